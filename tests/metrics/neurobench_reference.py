"""NeuroBench's own counts for the cross-check networks (run where neurobench is installed).

neurobench 2.3 (in the dev extra; see docs/metrics.md for its torchaudio pin). This module replays given spike tensors through
a torch model whose Linear layers NeuroBench hooks, so its SynapticOperations and
ActivationSparsity see exactly the activity our metrics count:

    per step t:  h_in = fc(x_t) + rec(s_{t-1});  s_t = replay(h_in);  out(s_t)

``replay`` is an activation module that returns the recorded spikes. Run
``python -m tests.metrics.neurobench_reference`` with an interpreter that has
neurobench to print the numbers recorded in test_neurobench_crosscheck.py.
"""

from __future__ import annotations

import json

import torch
from torch import nn


def random_case(seed: int = 7):
    """A random recurrent network with zero weights and graded input (B=4, T=6, 10-8-3)."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(4, 6, 10, generator=g) < 0.35).float() * torch.randint(1, 3, (4, 6, 10), generator=g)
    x[0] = (x[0] != 0).float()                      # sample 0 binary: its steps are ACs
    w1 = torch.randn(8, 10, generator=g) * (torch.rand(8, 10, generator=g) < 0.7)
    r = torch.randn(8, 8, generator=g) * (torch.rand(8, 8, generator=g) < 0.5)
    w2 = torch.randn(3, 8, generator=g) * (torch.rand(3, 8, generator=g) < 0.8)
    s = (torch.rand(4, 6, 8, generator=g) < 0.3).float()
    return x, w1, r, w2, s


def neurobench_counts(x, w1, r, w2, spikes, batch_size: int) -> dict:
    from neurobench.benchmarks import Benchmark  # noqa: PLC0415
    from neurobench.metrics.workload import ActivationSparsity, SynapticOperations  # noqa: PLC0415
    from neurobench.models import TorchModel  # noqa: PLC0415

    class Replay(nn.Module):
        def __init__(self):
            super().__init__()
            self.queue: list[torch.Tensor] = []

        def forward(self, current, s_t):
            return s_t

    class ReplayNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(w1.shape[1], w1.shape[0], bias=True)
            self.rec = nn.Linear(r.shape[1], r.shape[0], bias=False)
            self.out = nn.Linear(w2.shape[1], w2.shape[0], bias=True)
            with torch.no_grad():
                self.fc.weight.copy_(w1)
                self.fc.bias.fill_(0.5)                # biases are not counted
                self.rec.weight.copy_(r)
                self.out.weight.copy_(w2)
                self.out.bias.fill_(-0.25)
            self.act = Replay()
            self.batches = list(torch.split(spikes, batch_size))

        def forward(self, xb):
            sb = self.batches.pop(0)
            prev = torch.zeros(xb.shape[0], w1.shape[0])
            outs = []
            for t in range(xb.shape[1]):
                s_t = self.act(self.fc(xb[:, t]) + self.rec(prev), sb[:, t])
                outs.append(self.out(s_t))
                prev = s_t
            return torch.stack(outs, dim=1)

    model = TorchModel(ReplayNet())
    model.add_activation_module(Replay)
    data = torch.utils.data.TensorDataset(x, torch.zeros(x.shape[0]))
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False)
    bench = Benchmark(model, loader, [], [], [[], [SynapticOperations, ActivationSparsity]])
    res = bench.run(quiet=True)
    syn = res["SynapticOperations"]
    return {"Effective_ACs": syn["Effective_ACs"], "Effective_MACs": syn["Effective_MACs"],
            "Dense": syn["Dense"], "ActivationSparsity": res["ActivationSparsity"]}


def main() -> None:
    import neurobench  # noqa: PLC0415

    from . import hand_network as H  # noqa: PLC0415

    out = {"neurobench": getattr(neurobench, "__version__", "?")}
    cases = {"hand": (H.X, H.W1, H.R, H.W2, H.S), "random": random_case()}
    for name, (x, w1, r, w2, s) in cases.items():
        for bs in (1, x.shape[0]):
            out[f"{name}/batch{bs}"] = neurobench_counts(x, w1, r, w2, s, bs)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
