"""NIR conformance matrix: our graphs in the peers' importers, the peers' graphs in our Lava run.

Part 1, consumers. For each of the main job's deployed graphs (``--graphs DIR``: the four
families, default the main job's output) and each consumer (snnTorch 1.0 ``import_from_nir``,
norse 1.1 ``from_nir``), the graph is given to the consumer twice: as the standard form
(``--for nir``, what every graph was before profiles) and in the consumer's profile
(``export-nir --for NAME``). The consumer runs ``--samples`` test samples step by step; its
hidden spikes are compared with our float model's (``SpecNetwork`` of the standard graph),
and its predictions (the readout integrated as the graph's readout says) with our float
model's. A refusal is a cell too, with the consumer's or the profile's reason.

rockpool 3.1 and sinabs 3.1 are consumers too: both profiles refuse every graph (their
neurons emit floor(v / threshold) spikes per step and subtract; ours reset to zero), so their
cells are the standard form as each reads it (its own error, or its spikes against ours) and
a probe: one neuron driven to 2.5 thresholds in one step, the spikes it emits and the voltage
it keeps. sinabs pins nir <= 1.0.4, so it is not installed beside Lava's pins; give a folder
it was installed into with ``--sinabs-site DIR`` (``pip install --no-deps --target DIR
sinabs==3.1.3 pbr``; it runs with nir 1.0.8).

Part 2, producers. Small networks built with snnTorch's and norse's own modules, exported by
their own exporters, run in ``lava-run --float`` with no ``--dt`` (producer conventions):
hidden spikes and predictions against the producer's own simulation.

Run: .venv/bin/python benchmarks/nir_conformance.py [--graphs DIR] [--data DIR] [--samples 100]
     [--sinabs-site DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

FAMILIES = ("lif", "gpn", "s2net", "pr-v2")
CONSUMERS = ("snntorch", "norse", "rockpool", "sinabs")


def _available(consumer: str) -> bool:
    import importlib.util

    return importlib.util.find_spec({"rockpool": "rockpool.nn.modules.torch.nir"}.get(consumer, consumer)) is not None


def _frames(data: Path, graph_path: Path, samples: int) -> torch.Tensor:
    from spikedeploy.data.sampling import binary_frames, choose_samples
    from spikedeploy.data.shd import BinningConfig, load_spikes
    from spikedeploy.nir_io import read_config, read_nir

    spikes = load_spikes(data / "test.h5")
    binning = BinningConfig.from_dict(read_config(read_nir(graph_path))["binning"])
    x, _, _ = binary_frames(spikes, binning, choose_samples(spikes.labels, samples))
    return torch.as_tensor(np.asarray(x)).double()


def _logits(spec, current: torch.Tensor) -> torch.Tensor:
    """The readout's logits from its synaptic current per step [B, T, K] (du = 1 readouts)."""
    r = spec.layers[-1]
    dv = torch.as_tensor(r.dv).double()
    v, trace = torch.zeros_like(current[:, 0]), []
    for c in current.unbind(1):
        v = (1 - dv) * v + c
        trace.append(v)
    trace = torch.stack(trace, 1)
    return {"max": trace.amax(1), "last": trace[:, -1], "mean": trace[:, -1] / current.shape[1]}[spec.readout]


def _hooked(module, kinds, x, step_by_step: bool):
    """Run ``module`` on x [B, T, N]; the outputs of its spiking submodules (type names ``kinds``)."""
    spikes = {}
    cells = [m for m in module.modules() if type(m).__name__ in kinds]
    hooks = [c.register_forward_hook(lambda m, i, o, k=k: spikes.setdefault(k, []).append(
        (o[0] if isinstance(o, tuple) else o).detach())) for k, c in enumerate(cells)]
    with torch.no_grad():
        out = module(x.float()) if not step_by_step else None
    for h in hooks:
        h.remove()
    b, t = x.shape[:2]
    return [torch.cat(spikes[k], 0).reshape(b, t, -1).double() for k in sorted(spikes)], out


def _rockpool_run(graph, x):
    import warnings

    from rockpool.nn.modules.torch.nir import from_nir

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _hooked(from_nir(graph), ("LIFTorch", "LIFNeuronTorch"), x, False)


def _sinabs_run(graph, x):
    import sinabs.nir as sn

    module = sn.from_nir(graph, batch_size=x.shape[0])
    return _hooked(_Flat(module), ("LIFSqueeze", "IAFSqueeze"), x, False)


class _Flat(torch.nn.Module):
    """sinabs' Squeeze layers take [batch * time, N]."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x.reshape(-1, x.shape[-1]))


def _consume(consumer: str, graph, spec, x):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.nir_io.test_profiles import _norse_run, _snntorch_run

    runs = {"snntorch": lambda: _snntorch_run(graph, x), "norse": lambda: _norse_run(graph, x, spec.dt),
            "rockpool": lambda: _rockpool_run(graph, x), "sinabs": lambda: _sinabs_run(graph, x)}
    return runs[consumer]()


def probe(consumer: str) -> dict:
    """One neuron (threshold 1) given 2.5 in one step: the spikes the consumer emits, and its v after."""
    import nir

    one = lambda v: np.full(2, v, np.float32)  # noqa: E731 - two neurons: both importers fail on one
    if consumer == "rockpool":
        import warnings

        from rockpool.nn.modules.torch.nir import from_nir
        graph = nir.NIRGraph.from_list(nir.Linear(np.eye(2, dtype=np.float32)), nir.CubaLIF(
            tau_syn=one(1e9), tau_mem=one(1e9), r=one(1e9 / 1e-3 - 1), v_leak=one(0), v_threshold=one(1), w_in=one(1)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            neuron = next(m for m in from_nir(graph).modules() if type(m).__name__ == "LIFTorch")
        # taus of 1e9 s at its dt of 1e-3 s: no decay (1 - 1e-12), so v = 2.5 after one step
        neuron._record = True
        with torch.no_grad():
            s = neuron(torch.tensor([[[2.5, 0.0]]]))
        return {"spikes_in_one_step": float(s[0, 0, 0]), "v_after": float(neuron._record_dict["vmem"][0, 0, 0])}
    import sinabs.nir as sn
    graph = nir.NIRGraph.from_list(nir.Affine(np.eye(2, dtype=np.float32), np.zeros(2, np.float32)),
                                   nir.IF(r=one(1), v_threshold=one(1)))
    module = sn.from_nir(graph, batch_size=1)
    neuron = next(m for m in module.modules() if type(m).__name__ == "IAFSqueeze")
    with torch.no_grad():
        s = _Flat(module)(torch.tensor([[[2.5, 0.0]]]))
    s = s[0] if isinstance(s, tuple) else s
    return {"spikes_in_one_step": float(s.reshape(-1)[0]), "v_after": float(neuron.v_mem.reshape(-1)[0])}


def _cell(consumer: str, form: str, path: Path, x: torch.Tensor) -> dict:
    from spikedeploy.models.spec_network import SpecNetwork
    from spikedeploy.nir_io import load_nir, read_nir
    from spikedeploy.nir_io.export import spec_to_nir
    from spikedeploy.nir_io.profiles import PROFILES

    spec = load_nir(path)
    try:
        if form == "profile":
            pr = PROFILES[consumer](spec)
            graph = spec_to_nir(pr.spec, input_gain=pr.input_gain, param_dt=pr.param_dt,
                                readout_neuron=pr.readout_neuron, profile=consumer)
        else:
            graph = read_nir(path)
        spikes, out = _consume(consumer, graph, spec, x)
    except Exception as err:  # noqa: BLE001 - a refusal (ours or the consumer's) is a result here
        return {"refused": f"{type(err).__name__}: {str(err).splitlines()[0][:160]}"}
    with torch.no_grad():   # float32, as the consumers (and the trained model) compute
        run = SpecNetwork(spec, dtype=torch.float32).run(x.float())
    ours = run.outputs[:-1]
    if len(spikes) != len(ours):
        return {"refused": f"the consumer ran {len(spikes)} spiking layer(s), the model has {len(ours)}"}
    equal = float(np.mean([float((a == b.double()).double().mean()) for a, b in zip(spikes, ours)]))
    row = {"hidden_spikes_equal": equal}
    if form == "profile" and out.shape[-1] == spec.output_size:
        same = _logits(spec, out).argmax(1) == run.logits.double().argmax(1)
        row["predictions_equal"] = float(same.double().mean())
    return row


def consumers(graphs: Path, data: Path, samples: int) -> dict:
    table = {}
    for fam in FAMILIES:
        path = graphs / f"{fam}.nir"
        x = _frames(data, path, samples)
        for consumer in CONSUMERS:
            if not _available(consumer):
                continue
            for form in ("standard", "profile"):
                table[f"{fam}/{consumer}/{form}"] = _cell(consumer, form, path, x)
                print(fam, consumer, form, table[f"{fam}/{consumer}/{form}"], flush=True)
    return table


def producers(samples: int) -> dict:
    """The producer tests' networks through lava-run --float with no --dt."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import nir

    from spikedeploy.data.shd import BinningConfig, ShdDataset
    from spikedeploy.lava_backend.results import read_results
    from spikedeploy.stages.lava_run import BinningChoice, LavaRunOptions, lava_run
    from tests.nir_io.test_producers import PRODUCERS
    from tests.training.toy_shd import write_toy_dataset

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = write_toy_dataset(Path(tmp) / "data", n_train=10, n_test=samples, channels=40)
        x = ShdDataset(data / "test.h5", BinningConfig(n_steps=20, duration=0.5, binary=True, n_channels=40),
                       progress=False).tensors()[0].double()
        for name, (make, export, run) in PRODUCERS.items():
            net = make()
            path = Path(tmp) / f"{name}.nir"
            nir.write(path, export(net))
            summary = lava_run(LavaRunOptions(path, data / "test.h5", config="floating_pt", out=Path(tmp) / "r.npz",
                                              binning=BinningChoice(n_steps=20, duration=0.5, binary=True)))
            res = read_results(Path(tmp) / "r.npz")
            theirs = run(net, x[res.sample_indices])
            equal = [float((torch.as_tensor(s).double() == a).double().mean())
                     for s, a in zip(res.spikes.values(), theirs)]
            out[name] = {"hidden_spikes_equal": float(np.mean(equal)), "dt": summary.dt,
                         "dt_source": summary.dt_source, "samples": int(len(res.labels))}
            print(name, out[name], flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    from spikedeploy.paths import cache_dir, default_data_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--graphs", type=Path, default=None, help="folder with lif.nir, gpn.nir, s2net.nir, pr-v2.nir "
                                                            "(default: the main job's, <cache>/main/nir)")
    ap.add_argument("--data", type=Path, default=None, help="the data the graphs were made for (default: built-in)")
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--sinabs-site", type=Path, default=None, help="a folder sinabs 3.1.3 was installed into "
                                                                  "(--no-deps: it pins nir <= 1.0.4)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.sinabs_site:
        sys.path.insert(0, str(args.sinabs_site))
    graphs = args.graphs or cache_dir() / "main" / "nir"
    result = {"probes": {c: probe(c) for c in ("rockpool", "sinabs") if _available(c)}}
    print("probes", result["probes"], flush=True)
    result["consumers"] = consumers(graphs, args.data or default_data_dir(), args.samples)
    result["producers"] = producers(24)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
