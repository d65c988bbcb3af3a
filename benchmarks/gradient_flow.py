"""Gradient flow through time: GPN against recurrent LIF / CUBA-LIF, 100 and 250 steps.

The GPN paper claims its gates keep gradients from vanishing over long sequences. This
script measures, on real input (the first samples of DIR/train.h5), with 10 ms frames
for both lengths: T = 100 covers the 1 s utterances; T = 250 is the same utterance
followed by 1.5 s of silence, so that reaching the speech from the end takes 150 more
steps. For each network:

1. ``||dL/dW_1||``: the gradient norm reaching the first layer's weight, with the
   network's own readout (GPN: mean over time; LIF/CUBA-LIF: LI, max over time) and the
   cross-entropy loss on its logits;
2. the profile over time ``||dL/dx_t||`` of the gradient w.r.t. the first layer's input
   current ``x_t = W_1 in_t``, with the loss read from the last step only (the readout
   weights applied to the last step's spikes, no readout memory): the gradient at step t
   has travelled T - 1 - t steps back through the hidden neurons' state. Plotted against
   that distance (docs/gradient_flow.png).

Two conditions: freshly initialised networks (seeds 0..N-1), and, with --checkpoints DIR,
the networks trained by benchmarks/train_accuracy.py (``DIR/{gpn,lif,cuba}-seed{S}.pt``,
trained at T = 100 with 10 ms frames: the same frame length, so T = 250 runs them on
longer sequences with unchanged dynamics). Networks run in training mode (GPN's random
reset values on; dropout is the only other difference and is switched off).

Run: .venv/bin/python benchmarks/gradient_flow.py [--checkpoints DIR] [--samples 64]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

MODELS = {"GPN": ("gpn-small", "gpn"), "LIF (recurrent)": ("lif-shd", "lif"),
          "CUBA-LIF (recurrent)": ("cuba-shd", "cuba")}
COLOURS = {"GPN": "tab:red", "LIF (recurrent)": "tab:blue", "CUBA-LIF (recurrent)": "tab:green"}
FRAME = 0.01  # seconds per step, both lengths


def load_input(data_dir: Path, n_steps: int, n: int):
    from spikedeploy.data.shd import BinningConfig, ShdDataset

    binning = BinningConfig(n_steps=n_steps, duration=n_steps * FRAME)
    ds = ShdDataset(data_dir / "train.h5", binning, indices=range(n), progress=False)
    return ds.tensors()


def measure(net, x, y):
    """(||dL/dW_1|| with the network's own loss, per-step ||dL/dx_t|| with a last-step loss, rate)."""
    import torch.nn.functional as F

    net.train()
    for layer in net.layers:
        layer.dropout.eval()  # no dropout: the comparison is about the dynamics
    net.zero_grad()
    F.cross_entropy(net(x), y).backward()
    w_norm = float(net.layers[0].synapse.weight.grad.norm())

    net.zero_grad()
    layer = net.layers[0]
    cur = layer.synapse(x)
    cur.retain_grad()
    s, _ = layer.neuron(cur)
    h = s
    for later in net.layers[1:]:
        h = later(h)
    F.cross_entropy(net.readout.synapse(h[:, -1]), y).backward()  # readout weights on the last step
    per_step = cur.grad.norm(dim=(0, 2))  # [T]: over batch and neurons
    return w_norm, per_step.detach(), float((s != 0).float().mean())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None, help="folder with train.h5 (default: the built-in digits)")
    ap.add_argument("--checkpoints", default=None, help="folder with the trained {gpn,lif,cuba}-seedS.pt")
    ap.add_argument("--steps", type=int, nargs="+", default=[100, 250])
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--plot", default="docs/gradient_flow.png")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from spikedeploy.atomic import atomic_path
    from spikedeploy.models import build_network, get_preset
    from spikedeploy.paths import default_data_dir
    from spikedeploy.training.checkpoint import load_checkpoint

    torch.set_num_threads(args.threads)
    data_dir = Path(args.data) if args.data else default_data_dir()
    if not (data_dir / "train.h5").is_file():
        print(f"no data set at {data_dir}: build it with `spikedeploy data synth-digits` or pass --data",
              file=sys.stderr)
        return 2
    conditions = ["init"]
    ckpt_dir = Path(args.checkpoints) if args.checkpoints else None
    if ckpt_dir is not None:
        conditions.append("trained")

    def networks(condition: str, name: str):
        preset, prefix = MODELS[name]
        for seed in range(args.seeds):
            if condition == "init":
                torch.manual_seed(seed)
                yield build_network(get_preset(preset).network)
            else:
                path = ckpt_dir / f"{prefix}-seed{seed}.pt"
                if path.is_file():
                    yield load_checkpoint(path)[0]

    results: dict = {"data": str(data_dir), "samples": args.samples, "seeds": args.seeds, "frame_s": FRAME,
                     "w1_grad_norm": {}, "profile": {}, "rate": {}, "n": {}}
    inputs = {T: load_input(data_dir, T, args.samples) for T in args.steps}
    for condition in conditions:
        for T in args.steps:
            x, y = inputs[T]
            for name in MODELS:
                norms, profiles, rates = [], [], []
                for net in networks(condition, name):
                    torch.manual_seed(0)  # GPN reset draws
                    w, prof, rate = measure(net, x, y)
                    norms.append(w)
                    profiles.append(prof)
                    rates.append(rate)
                if not norms:
                    continue
                key = f"{condition} | {name} | T={T}"
                prof = torch.stack(profiles).mean(0)
                results["w1_grad_norm"][key] = {"mean": statistics.mean(norms), "seeds": norms}
                results["profile"][key] = prof.tolist()
                results["rate"][key] = statistics.mean(rates)
                results["n"][key] = len(norms)
                speech_end = min(T, int(round(1.0 / FRAME))) - 1  # last frame of the 1 s utterance
                print(f"{key:<40} ||dL/dW1|| {statistics.mean(norms):.3e} | last-step loss: ||dL/dx_t|| "
                      f"at the last step {prof[-1]:.2e}, at the end of the speech (t={speech_end}) "
                      f"{prof[speech_end]:.2e}, at t=0 {prof[0]:.2e} | rate {statistics.mean(rates):.4f} | "
                      f"{len(norms)} nets", flush=True)

    fig, axes = plt.subplots(len(conditions), len(args.steps), figsize=(5.6 * len(args.steps),
                                                                        3.9 * len(conditions)),
                             sharey="row", squeeze=False)
    for r, condition in enumerate(conditions):
        for c, T in enumerate(args.steps):
            ax = axes[r][c]
            for name in MODELS:
                key = f"{condition} | {name} | T={T}"
                if key not in results["profile"]:
                    continue
                prof = results["profile"][key]
                dist = list(range(T - 1, -1, -1))  # steps back from the loss at t = T - 1
                w1 = results["w1_grad_norm"][key]["mean"]
                ax.semilogy(dist, [max(p, 1e-30) for p in prof], color=COLOURS[name],
                            label=f"{name}  (||dL/dW1|| {w1:.2g})")
            if T * FRAME > 1.0:
                ax.axvline(T - 100, color="grey", ls=":", lw=1)
                ax.text(T - 100, 1e-28, " speech ends", fontsize=7, color="grey")
            ax.set_title(f"{'initialised' if condition == 'init' else 'trained (T = 100)'}, T = {T} "
                         f"({T * FRAME:.1f} s)", fontsize=10)
            ax.set_xlabel("steps back from the loss (T - 1 - t)")
            top = max(max(results["profile"][k]) for k in results["profile"] if k.startswith(condition))
            ax.set_ylim(1e-30, max(1.0, 10 * top))  # exact zeros (float underflow) sit on the bottom edge
            ax.grid(True, which="major", alpha=0.3)
            ax.legend(fontsize=7, loc="lower left")
        axes[r][0].set_ylabel("||dL/dx_t||, first-layer input")
    fig.suptitle(f"Gradient through time (loss on the last step; mean of up to {args.seeds} networks, "
                 f"{args.samples} samples, 10 ms frames)", fontsize=10)
    fig.tight_layout()
    with atomic_path(args.plot) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    print(f"plot: {args.plot}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
