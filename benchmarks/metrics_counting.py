"""What counting a run costs, next to running the model that produced it.

For SHD-sized networks (700 inputs, T steps, a batch of B samples) this times, in
one process and side by side:

- the float PyTorch forward pass of the model (``SpikingNetwork``, eval mode), and
- ``spikedeploy.metrics.count_run`` on that run's spikes (spikes, rates, SynOps,
  neuron updates, sparsity), plus ``estimate_energy`` for the three chip profiles,

and reports the ratio (count time / forward time). Models: a recurrent
CUBA-LIF 700-128r-128-20 and a GPN 700-1024-20 counted before folding (gates).

    .venv/bin/python benchmarks/metrics_counting.py [--batch 64] [--steps 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import torch

from spikedeploy.metrics import count_run, estimate_energy, layers_from_model
from spikedeploy.models.networks import NetworkConfig, build_network


def best_of(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--input-rate", type=float, default=0.05, help="input spike probability per step")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = (torch.rand(args.batch, args.steps, 700) < args.input_rate).float()
    models = {
        "cuba-lif 700-128r-128-20": NetworkConfig(hidden=(128, 128), neuron="cuba-lif", recurrent=True,
                                                   vth_init=0.5, weight_gain=4.0),
        "gpn 700-1024-20 (gates)": NetworkConfig(hidden=(1024,), neuron="gpn", readout="mean-linear",
                                                 synapse_bias=True, weight_gain=4.0),
    }
    print(f"batch {args.batch}, {args.steps} steps, input rate {args.input_rate}, "
          f"{args.threads} thread(s), best of {args.repeats}")
    print(f"{'model':<28}{'forward s':>11}{'count s':>10}{'energy s':>10}{'count/fwd':>11}"
          f"{'rate/step':>11}{'eff. ACs':>13}{'eff. MACs':>13}")
    for name, cfg in models.items():
        net = build_network(cfg).eval()

        def forward():
            with torch.no_grad():
                return net(x, return_spikes=True)[1]

        t_fwd, spikes = best_of(forward, args.repeats)
        layers = layers_from_model(net)
        spike_map = {l.name: s for l, s in zip(layers, spikes)}
        t_count, counts = best_of(lambda: count_run(layers, x, spike_map, dt=1e-3), args.repeats)
        t_energy, _ = best_of(lambda: [estimate_energy(counts, c) for c in ("loihi1", "loihi2", "gpu")],
                              args.repeats)
        print(f"{name:<28}{t_fwd:>11.3f}{t_count:>10.3f}{t_energy:>10.4f}{t_count / t_fwd:>11.2f}"
              f"{counts.spikes.rate_per_step:>11.4f}{counts.synops.effective_acs:>13.0f}"
              f"{counts.synops.effective_macs:>13.0f}")


if __name__ == "__main__":
    main()
