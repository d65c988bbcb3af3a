"""Loihi 1 against Loihi 2 deployment paths, side by side in one run, on the default data.

For each family's trained checkpoint (pr-v2 and GPN: the main job's, ``scripts/sd main``; or
``--pr-v2`` / ``--gpn``; gpn-hw, the hardware-friendly GPN with hard gates: trained here once
with the main job's GPN settings into the benchmark cache, or ``--gpn-hw``) and each path:

- ``loihi1``: ``fold --target loihi1`` with the main job's settings (gates -> constants, binary
  spikes, 4 decay profiles, 6 epochs of distillation; pr-v2 at the main job's 5e-4) -> the quantiser
  (``export-nir --quantized``'s stage) -> the bit-exact emulator and Lava (LIF processes);
- ``loihi2``: ``fold --target loihi2`` (pr-v2: forget gates computed with a hard sigmoid,
  graded 6-bit outputs; GPN: the four gates computed from a graded 12-bit broadcast of the
  state, hard gates in place of a sigmoid GPN's) -> the emulator and Lava (neuron processes
  of our own + Lava's Dense);

it records the accuracy chain (source float -> the path's float network -> integers in the
emulator -> Lava, all test samples, ``--verify``: Lava equals the emulator), the operations of
one inference (synaptic events, neuron updates, spikes or payloads), the energy per
inference on Loihi 2 (per-operation estimates of hardware/loihi2.toml, plus its per-step
overhead: :func:`spikedeploy.metrics.devices.neuromorphic`, cores from ``map``), the
deployable Lava processes (one LIF process per decay group), and draws accuracy against
energy into one plot. Both paths are costed on the Loihi 2 profile (binary spikes run there
too). The Loihi 2 path's graded events are charged as one synaptic op and its neuron program
as one active update: no per-op energy of either is published, so its energy is a lower bound.
A GPN's gates are dense work on Loihi 2 (its state broadcast is non-zero almost every step):
every gate event is counted.

Run: .venv/bin/python benchmarks/loihi2_paths.py [--json out.json] [--plot docs/img/loihi2_paths.png]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

CACHE = Path.home() / ".cache" / "spikedeploy"


def _energy(work, cores: int) -> dict:
    from spikedeploy.metrics.devices import neuromorphic, operation_joules

    ops = operation_joules("loihi2", work)
    dev = neuromorphic("loihi2", work, ops, cores=cores)
    return {"ops_uj": ops * 1e6, "with_overhead_uj": {k: v * 1e6 for k, v in dev.joules.to_dict().items()},
            "synops": work.synops * work.steps, "neuron_updates": work.neuron_updates * work.steps,
            "spikes_or_payloads": work.spikes * work.steps, "dense_macs": work.macs * work.steps, "cores": cores}


def _lif_processes(net) -> int:
    """Deployable Lava processes of a LoihiNetwork: one LIF per decay group, one connection per
    (source port, group) pair with synapses (:mod:`spikedeploy.lava_backend.build`)."""
    count, ports = 0, [np.arange(net.input_size)]
    for layer in net.layers:
        groups = layer.decay_groups()
        own = [g.neurons for g in groups]
        count += len(groups)
        for weight, sources in ([(w, ports) for _, w in layer.taps()]
                                + ([(layer.rec_weight, own)] if layer.recurrent else [])):
            count += sum(bool(np.any(weight[np.ix_(g.neurons, cols)])) for g in groups for cols in sources)
        ports = own
    return count


def loihi1_path(ckpt: Path, data: Path, work: Path, test, args) -> dict:
    from spikedeploy.lava_backend.mapping import map_network
    from spikedeploy.metrics.devices import workload_from_counts
    from spikedeploy.metrics.run_counts import count_run
    from spikedeploy.quant.emulator import emulate, emulator_accuracy
    from spikedeploy.stages.export import ExportOptions, QuantOptions, export
    from spikedeploy.stages.fold import FoldConfig, FoldOptions, fold
    from spikedeploy.stages.lava_run import LavaRunOptions, lava_run
    from spikedeploy.stages.pipeline_config import MAIN_FOLD

    t0 = time.perf_counter()
    lr = {"finetune_lr": 5e-4} if "pr-v2" in ckpt.stem else {}
    res = fold(FoldOptions(ckpt, work / f"{ckpt.stem}-l1.pt", data, FoldConfig(**MAIN_FOLD, **lr, seed=args.seed),
                           progress=False))
    q = export(ExportOptions(res.checkpoint, out=work / f"{ckpt.stem}-l1.nir", quantized=True, data_dir=data,
                             quant=QuantOptions()))
    net = q.loihi
    x, y = (test.x > 0).to(torch.uint8), test.y
    emu = emulator_accuracy(net, x, y)
    em = emulate(net, x, record=("s", "v"), on_overflow="ignore")
    counts = count_run(net, x, {k: v for k, v in em.spikes.items() if k != net.layer_names[-1]})
    lava = lava_run(LavaRunOptions(model=q.path, data=data, verify=True))     # its own gap, decays, replicas
    lava_acc = lava.accuracy
    cores = sum(len(l.cores) for l in map_network(net, "loihi2").layers)
    acc = res.report["accuracy"]
    return {"path": "loihi1", "float_source": acc[res.report["kind"]]["test"]["acc"],
            "float_path": acc.get("finetuned", acc["folded"])["test"]["acc"], "emulator": emu["acc"], "lava": lava_acc,
            "lava_bit_exact": True, "energy": _energy(workload_from_counts(counts), cores),
            "processes": _lif_processes(net), "seconds": time.perf_counter() - t0}


def loihi2_path(ckpt: Path, data: Path, work: Path, test, args) -> dict:
    from spikedeploy.lava_backend.mapping import map_network
    from spikedeploy.lava_backend.loihi2 import run_loihi2, verify_loihi2
    from spikedeploy.metrics.graded_ops import graded_counts, graded_workload
    from spikedeploy.quant.graded_file import load_graded
    from spikedeploy.quant.loihi2_emulator import emulate_loihi2, graded_logits
    from spikedeploy.stages.fold import FoldOptions, fold

    t0 = time.perf_counter()
    res = fold(FoldOptions(ckpt, work / f"{ckpt.stem}-l2.npz", data, target="loihi2", progress=False))
    net, report = load_graded(res.checkpoint)
    x, y = (test.x > 0).to(torch.uint8), test.y
    payloads, volt, _, broadcast = emulate_loihi2(net, x)
    emu_acc = int((graded_logits(net, volt).argmax(1) == y).sum()) / len(y)
    counts = graded_counts(net, x, payloads, broadcast)
    run = run_loihi2(net, x.numpy(), replicas=args.replicas)
    verify_loihi2(run)
    lava_acc = int((graded_logits(net, run.readout()).argmax(1).numpy() == y.numpy()).sum()) / len(y)
    cores = sum(len(l.cores) for l in map_network(net, "loihi2").layers)
    processes = sum(1 + len(l.connections()) for l in net.hidden) + 2 * len(net.readout.decay_groups())
    acc = report["accuracy"]
    return {"path": "loihi2", "float_source": acc[report["kind"]]["test"]["acc"],
            "float_path": acc["hard_gates"]["test"]["acc"],
            "emulator": emu_acc, "lava": lava_acc, "lava_bit_exact": True,
            "energy": _energy(graded_workload(net, counts, int(x.shape[1])), cores), "processes": processes,
            "payload_bits": [max(l.out_bits, l.rec_bits) for l in net.hidden], "seconds": time.perf_counter() - t0}


def train_gpn_hw(out: Path, data: Path) -> None:
    """The hardware-friendly GPN with the main job's GPN settings (128 hidden, T = 40 binary frames,
    10 epochs, early stop after 4, seed 0)."""
    from spikedeploy.training.loop import run_training
    from spikedeploy.training.run_config import RunConfig

    run = RunConfig.resolve(preset="gpn-hw", binning={"n_steps": 40, "binary": True},
                            training={"epochs": 10, "early_stop_patience": 4, "seed": 0})
    out.parent.mkdir(parents=True, exist_ok=True)
    res = run_training(run.network, run.binning, run.training, data, out, device="cpu", progress=False,
                       extra={"preset": "gpn-hw", "run": run.to_dict()})
    print(f"trained gpn-hw: test {100 * res.test_acc:.2f} % ({res.seconds:.0f} s) -> {out}")


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from spikedeploy.atomic import atomic_path

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    colours = {"pr-v2": "tab:blue", "gpn": "tab:orange", "gpn-hw": "tab:green"}
    for family, paths in results.items():
        c = colours.get(family, "tab:gray")
        for p in paths:
            ax.plot([p["energy"]["ops_uj"]], [100 * p["lava"]], "o" if p["path"] == "loihi1" else "s", color=c,
                    label=f"{family} {p['path']} (Lava)" + (" - energy a lower bound" if p["path"] == "loihi2" else ""))
        ax.axhline(100 * paths[0]["float_source"], color=c, ls="--", lw=1, label=f"{family} source (float)")
    ax.set_xlabel("operations' energy per inference on Loihi 2, uJ\n(per-op estimates; the per-step overhead, "
                  "~1.1 mJ, comes on top of every point)", fontsize=8)
    ax.set_ylabel("test accuracy, %")
    ax.set_title("Loihi 1 path (binary, gates folded) vs Loihi 2 path (graded, gates computed)", fontsize=9)
    ax.legend(fontsize=7, loc="center")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pr-v2", type=Path, default=CACHE / "main" / "checkpoints" / "pr-v2.pt")
    ap.add_argument("--gpn", type=Path, default=CACHE / "main" / "checkpoints" / "gpn.pt")
    ap.add_argument("--gpn-hw", type=Path, default=CACHE / "bench" / "gpn-hw.pt",
                    help="the hardware-friendly GPN (trained here when missing)")
    ap.add_argument("--data", type=Path, default=CACHE / "synth-digits")
    ap.add_argument("--seed", type=int, default=0, help="the fold's seed (the main job's: 0)")
    ap.add_argument("--replicas", type=int, default=64)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--plot", type=Path, default=None)
    ap.add_argument("--replot", type=Path, default=None, metavar="JSON",
                    help="only draw the plot from an earlier run's --json")
    args = ap.parse_args()
    if args.replot is not None:
        plot(json.loads(args.replot.read_text()), args.plot or Path("loihi2_paths.png"))
        return 0
    from spikedeploy.fold import load_foldable_checkpoint
    from spikedeploy.training.config import TrainConfig
    from spikedeploy.training.loop import load_split

    torch.set_num_threads(2)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.gpn_hw.is_file():
            train_gpn_hw(args.gpn_hw, args.data)
        for family, ckpt in (("pr-v2", args.pr_v2), ("gpn", args.gpn), ("gpn-hw", args.gpn_hw)):
            if not ckpt.is_file():
                print(f"{ckpt} not found: run `scripts/sd main` first, or pass --{family} CKPT", file=sys.stderr)
                return 2
            src, meta = load_foldable_checkpoint(ckpt)
            tc = TrainConfig.from_dict(meta["training"])
            _, _, test, _, _ = load_split(args.data, meta["binning"], src.config, tc.val_fraction, tc.seed,
                                          progress=False)
            paths = [loihi1_path(ckpt, args.data, Path(tmp), test, args),
                     loihi2_path(ckpt, args.data, Path(tmp), test, args)]
            results[family] = paths
            for p in paths:
                e = p["energy"]
                print(f"{family:6s} {p['path']}: source {100 * p['float_source']:.2f} % -> path float "
                      f"{100 * p['float_path']:.2f} % -> emulator {100 * p['emulator']:.2f} % = Lava "
                      f"{100 * p['lava']:.2f} %; {e['synops']:,.0f} synaptic events, {e['neuron_updates']:,.0f} neuron "
                      f"updates, {e['spikes_or_payloads']:,.0f} spikes/payloads per inference; ops {e['ops_uj']:.3f} uJ, "
                      f"with overhead {e['with_overhead_uj']['expected']:.2f} uJ "
                      f"[{e['with_overhead_uj']['low']:.2f} .. {e['with_overhead_uj']['high']:.2f}]; "
                      f"{e['cores']} cores, {p['processes']} Lava processes ({p['seconds']:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if args.plot:
        plot(results, args.plot)
        print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
