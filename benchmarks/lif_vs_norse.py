"""Training throughput of spikedeploy's LIF layers against norse's LIF, side by side.

Each contender is the same small network: Linear(F -> H) -> spiking layer over T steps ->
mean spikes over time -> Linear(H -> 20) -> cross entropy, trained with Adam; one
measurement = forward + backward + optimiser step on one batch. The contenders run
interleaved (round robin, several rounds) in one process on the same batches, so a
busy machine slows all of them alike; the median samples/s per contender and the median
over rounds of the per-round ratio to norse (paired, so that load changes between rounds
cancel) are printed (and, with --json, written to a file).

Contenders (all with the same decays, du = 0.2 and dv = 0.1, norse's dt = 1 ms with
tau_syn = 5 ms and tau_mem = 10 ms):

  ours lif          spikedeploy LIF (du = 1, Loihi form), feed-forward
  ours cuba-lif     spikedeploy CUBA-LIF, feed-forward
  norse lif         norse.torch.LIF (current-based, the LIFCell step in norse's time loop)
  ours lif-rec      spikedeploy LIF with a recurrent weight
  ours cuba-rec     spikedeploy CUBA-LIF with a recurrent weight
  norse lif-rec     norse.torch.LIFRecurrent (its own input and recurrent weights)

Data: the first batches of DIR/train.h5 (default: the built-in synthetic digits) binned
to T frames; with --random (or when that data set does not exist) Bernoulli spikes with
the same mean rate. Run: .venv/bin/python benchmarks/lif_vs_norse.py [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path


def load_batches(args, n_batches: int):
    import torch

    from spikedeploy.paths import default_data_dir

    data_dir = Path(args.data) if args.data else default_data_dir()
    n = args.batch * n_batches
    if not args.random and (data_dir / "train.h5").is_file():
        from spikedeploy.data.shd import BinningConfig, ShdDataset

        ds = ShdDataset(data_dir / "train.h5", BinningConfig(n_steps=args.steps), indices=range(n), progress=False)
        x, y = ds.tensors()
        source = f"{data_dir / 'train.h5'} (first {n} samples, T = {args.steps})"
    else:
        g = torch.Generator().manual_seed(0)
        x = (torch.rand(n, args.steps, 700, generator=g) < 0.01).float()
        y = torch.randint(0, 20, (n,), generator=g)
        source = f"random Bernoulli spikes (p = 0.01), {n} samples, T = {args.steps}"
    xs = list(x.split(args.batch))
    ys = list(y.split(args.batch))
    return xs, ys, source


def build(args):
    import norse.torch as nt
    import torch
    from torch import nn

    from spikedeploy.models.networks import HiddenLayer
    from spikedeploy.models.neurons.lif import LIF, CubaLIF
    from spikedeploy.models.surrogate import FastSigmoid

    F_IN, H, K = 700, args.hidden, 20
    sg = FastSigmoid(scale=100.0)  # = norse's SuperSpike, alpha 100
    np_ = nt.LIFParameters(tau_syn_inv=torch.as_tensor(200.0), tau_mem_inv=torch.as_tensor(100.0))

    class Ours(nn.Module):
        time_first = False

        def __init__(self, neuron):
            super().__init__()
            self.layer = HiddenLayer(F_IN, neuron)
            self.readout = nn.Linear(H, K)

        def forward(self, x):  # [B, T, F]
            return self.readout(self.layer(x).mean(1))

    class NorseFF(nn.Module):
        time_first = True

        def __init__(self):
            super().__init__()
            self.synapse = nn.Linear(F_IN, H, bias=False)
            self.lif = nt.LIF(p=np_)
            self.readout = nn.Linear(H, K)

        def forward(self, x):  # [T, B, F]
            z, _ = self.lif(self.synapse(x))
            return self.readout(z.mean(0))

    class NorseRec(nn.Module):
        time_first = True

        def __init__(self):
            super().__init__()
            self.lif = nt.LIFRecurrent(F_IN, H, p=np_)
            self.readout = nn.Linear(H, K)

        def forward(self, x):
            z, _ = self.lif(x)
            return self.readout(z.mean(0))

    return {
        "ours lif": Ours(LIF(H, sg, dv=0.1)),
        "ours cuba-lif": Ours(CubaLIF(H, sg, du=0.2, dv=0.1)),
        "norse lif": NorseFF(),
        "ours lif-rec": Ours(LIF(H, sg, dv=0.1, recurrent=True)),
        "ours cuba-rec": Ours(CubaLIF(H, sg, du=0.2, dv=0.1, recurrent=True)),
        "norse lif-rec": NorseRec(),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None, help="folder with train.h5 (default: the built-in digits)")
    ap.add_argument("--random", action="store_true", help="use random spikes instead of the data set")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--steps", type=int, default=100, help="time steps T")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    ap.add_argument("--per-round", type=int, default=3, help="training steps per contender per round")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None, help="write the results to this JSON file")
    args = ap.parse_args(argv)

    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    xs, ys, source = load_batches(args, args.per_round)
    xs_tf = [x.transpose(0, 1).contiguous() for x in xs]
    models = build(args)
    opts = {k: torch.optim.Adam(m.parameters(), lr=1e-3) for k, m in models.items()}

    def train_step(name, i):
        m = models[name]
        x = xs_tf[i] if m.time_first else xs[i]
        opts[name].zero_grad(set_to_none=True)
        loss = F.cross_entropy(m(x), ys[i])
        loss.backward()
        opts[name].step()

    for name in models:  # warm-up
        train_step(name, 0)
    rates: dict[str, list[float]] = {k: [] for k in models}
    names = list(models)
    for r in range(args.rounds):
        # Alternate the order so that no contender always runs right after a given other one.
        for name in (names if r % 2 == 0 else names[::-1]):
            t0 = time.perf_counter()
            for i in range(args.per_round):
                train_step(name, i)
            rates[name].append(args.batch * args.per_round / (time.perf_counter() - t0))
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"data: {source}; batch {args.batch}, hidden {args.hidden}, threads {args.threads}, "
          f"{args.rounds} rounds x {args.per_round} steps")
    print(f"{'contender':<16}{'samples/s (median)':>20}{'min':>10}{'max':>10}{'ratio vs norse':>16}"
          f"{'(per-round ratios: min..max)':>30}")
    result = {"source": source, "args": vars(args), "samples_per_s": {}, "ratio_vs_norse": {}, "rounds": rates}
    for name, v in rates.items():
        ref = "norse lif-rec" if "rec" in name else "norse lif"
        # Paired: the ratio within each round (same machine load), then the median over rounds.
        ratios = [a / b for a, b in zip(v, rates[ref])]
        ratio = statistics.median(ratios)
        result["samples_per_s"][name] = med[name]
        result["ratio_vs_norse"][name] = ratio
        print(f"{name:<16}{med[name]:>20.1f}{min(v):>10.1f}{max(v):>10.1f}{ratio:>15.2f}x"
              f"{f'{min(ratios):.2f}..{max(ratios):.2f}':>30}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
