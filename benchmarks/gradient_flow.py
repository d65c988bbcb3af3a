"""Gradient flow through time: GPN against LIF for sequences of 100 and 250 steps.

The GPN paper claims its gates keep gradients from vanishing over long sequences. This
script measures, for freshly initialised networks (the usual setting for this question;
several seeds), on real input (the first samples of DIR/train.h5 binned to T frames over
the same 1 s, so T = 250 is a finer time grid than T = 100):

1. the gradient norm reaching the first layer, ``||dL/dW_1||`` (W_1 = first synaptic
   weight), with each network's own readout and the cross-entropy loss on its logits;
2. the gradient's profile over time: ``||dL/dx_t||`` for the first layer's input current
   ``x_t = W_1 in_t``, with the loss read from the last step only (the readout weights
   applied to the last step's spikes, no readout memory), so the gradient at step t must
   travel T - 1 - t steps back through the hidden neurons' state. Plotted against the
   distance to the end.

Networks (hidden 128, one hidden layer): GPN (mean-over-time linear readout, the GPN
paper's), recurrent LIF and feed-forward LIF (LI readout, max over time, the project's
presets). Writes docs/gradient_flow.png and prints a table (and --json).

Run: .venv/bin/python benchmarks/gradient_flow.py [--data DIR] [--samples 64] [--seeds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

MODELS = {
    "GPN": "gpn-small",
    "LIF (recurrent)": "lif-shd",
    "LIF (feed-forward)": "lif-ff-shd",
}


def load_input(data_dir: Path, n_steps: int, n: int):
    from spikedeploy.data.shd import BinningConfig, ShdDataset

    ds = ShdDataset(data_dir / "train.h5", BinningConfig(n_steps=n_steps), indices=range(n), progress=False)
    return ds.tensors()


def measure(net, x, y):
    """(||dL/dW_1|| with the network's own loss, per-step ||dL/dx_t|| with a last-step loss)."""
    import torch
    import torch.nn.functional as F

    net.train()  # training mode as during learning (GPN's random reset values); no dropout is active
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
    logits_last = net.readout.synapse(h[:, -1])  # the readout weights on the last step's spikes
    F.cross_entropy(logits_last, y).backward()
    per_step = cur.grad.norm(dim=(0, 2))  # [T]: norm over batch and neurons
    return w_norm, per_step.detach(), float(s.mean())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None, help="folder with train.h5 (default: the built-in digits)")
    ap.add_argument("--steps", type=int, nargs="+", default=[100, 250])
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--hidden", type=int, default=128)
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

    torch.set_num_threads(args.threads)
    data_dir = Path(args.data) if args.data else default_data_dir()
    if not (data_dir / "train.h5").is_file():
        print(f"no data set at {data_dir}: build it with `spikedeploy data synth-digits` or pass --data",
              file=sys.stderr)
        return 2
    results: dict = {"data": str(data_dir), "samples": args.samples, "seeds": args.seeds, "hidden": args.hidden,
                     "w1_grad_norm": {}, "profile": {}, "rate": {}}
    for T in args.steps:
        x, y = load_input(data_dir, T, args.samples)
        if x.shape[-1] != 700:
            raise SystemExit(f"expected 700 channels, got {x.shape[-1]}")
        for name, preset in MODELS.items():
            cfg = get_preset(preset).network.replace(hidden=[args.hidden], n_classes=int(y.max()) + 1
                                                     if int(y.max()) + 1 > 20 else 20)
            norms, profiles, rates = [], [], []
            for seed in range(args.seeds):
                torch.manual_seed(seed)
                net = build_network(cfg)
                w, prof, rate = measure(net, x, y)
                norms.append(w)
                profiles.append(prof)
                rates.append(rate)
            key = f"{name} T={T}"
            results["w1_grad_norm"][key] = {"mean": statistics.mean(norms), "seeds": norms}
            results["profile"][key] = torch.stack(profiles).mean(0).tolist()
            results["rate"][key] = statistics.mean(rates)
            print(f"{key:<28} ||dL/dW1|| = {statistics.mean(norms):.3e} (seeds {', '.join(f'{v:.2e}' for v in norms)}); "
                  f"last-step loss: ||dL/dx_t|| at t = T-1 {results['profile'][key][-1]:.2e}, "
                  f"t = 0 {results['profile'][key][0]:.2e}; firing rate {statistics.mean(rates):.3f}")

    fig, axes = plt.subplots(1, len(args.steps), figsize=(5.5 * len(args.steps), 4.2), sharey=True)
    axes = [axes] if len(args.steps) == 1 else list(axes)
    colours = {"GPN": "tab:red", "LIF (recurrent)": "tab:blue", "LIF (feed-forward)": "tab:cyan"}
    for ax, T in zip(axes, args.steps):
        for name in MODELS:
            prof = results["profile"][f"{name} T={T}"]
            dist = list(range(T - 1, -1, -1))  # steps from the loss (at t = T - 1) back to t
            ax.semilogy(dist, [max(p, 1e-30) for p in prof], label=f"{name}", color=colours[name])
        ax.set_title(f"T = {T} steps (1 s of audio)")
        ax.set_xlabel("steps back from the loss (T - 1 - t)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("||dL/dx_t||, first layer input current")
    axes[0].legend()
    w1 = ", ".join(f"{k}: {v['mean']:.2e}" for k, v in results["w1_grad_norm"].items())
    fig.suptitle("Gradient through time at initialisation (loss on the last step; mean of "
                 f"{args.seeds} seeds, {args.samples} samples)", fontsize=10)
    fig.tight_layout()
    with atomic_path(args.plot) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    print(f"plot: {args.plot}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
