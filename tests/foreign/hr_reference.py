"""The GPN authors' networks (hrje123/hr-GPN-SNN), written here from their published
equations (``core/neurons.py``, ``src/model.py``) to check the conversion against: the
same parameter names and shapes, evaluation-mode semantics, time-major loop over T steps,
prediction = mean over time of the last Linear's output.
"""

from __future__ import annotations

import torch
from torch import nn


def heaviside(x: torch.Tensor) -> torch.Tensor:
    return (x >= 0).to(x)


class GPN(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.c = c
        self.ln = nn.Linear(2 * c, 4 * c)

    def run(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        v = torch.zeros_like(xs[0])
        out = []
        for x in xs:
            f, i, b, t = torch.split(self.ln(torch.cat([v, x], 1)), self.c, 1)
            h = torch.sigmoid(f) * v + torch.sigmoid(i) * x
            s = heaviside(h - torch.sigmoid(t))
            v = (1 - s) * h + torch.tanh(b)          # v_reset = 0 in evaluation mode
            out.append(s)
        return out


class LIF(nn.Module):
    def __init__(self, c: int, tau: float = 5.0, v_th: float = 0.5):
        super().__init__()
        self.tau, self.v_th = tau, v_th

    def charge(self, v, x):
        return v + (x - v) / self.tau

    def run(self, xs):
        v = torch.zeros_like(xs[0])
        out = []
        for x in xs:
            v = self.charge(v, x)
            s = heaviside(v - self.v_th)
            v = (1 - s) * v
            out.append(s)
        return out


class IF(LIF):
    def charge(self, v, x):
        return v + x


class PLIF(LIF):
    def __init__(self, c: int, init_tau: float = 2.0, v_th: float = 0.5):
        super().__init__(c, v_th=v_th)
        self.w = nn.Parameter(torch.as_tensor(-torch.log(torch.tensor(init_tau - 1.0)).item()))

    def charge(self, v, x):
        return v + (x - v) * self.w.sigmoid()


class RLIF(nn.Module):
    def __init__(self, c: int, alpha: float = 0.2, beta: float = 0.2, v_th: float = 0.5):
        super().__init__()
        self.alpha, self.beta, self.v_th = alpha, beta, v_th
        self.fc_U = nn.Linear(c, c)

    def run(self, xs):
        v = torch.zeros_like(xs[0])
        i = torch.zeros_like(xs[0])
        s = torch.zeros_like(xs[0])
        out = []
        for x in xs:
            i = self.alpha * i + x + self.fc_U(s)
            v = self.beta * v + (1 - self.beta) * i
            s = heaviside(v - self.v_th)
            v = (1 - s) * v
            out.append(s)
        return out


NEURONS = {"GPN": GPN, "LIF": LIF, "IF": IF, "PLIF": PLIF, "RLIF": RLIF}


class SNNBase(nn.Module):
    """``SNN_base_<depth>_<width>``: fc1 -> sn1 -> ... -> fc<depth+1>."""

    def __init__(self, neuron: str, depth: int = 1, width: int = 1024, n_in: int = 700, n_out: int = 20):
        super().__init__()
        sizes = [n_in] + [width] * depth
        for k in range(1, depth + 1):
            setattr(self, f"fc{k}", nn.Linear(sizes[k - 1], width))
            setattr(self, f"sn{k}", NEURONS[neuron](width))
        setattr(self, f"fc{depth + 1}", nn.Linear(width, n_out))
        self.depth = depth

    def forward(self, x: torch.Tensor):
        """``x`` [batch, T, n_in] -> (prediction [batch, n_out], spikes per layer [batch, T, width])."""
        xs = list(x.transpose(0, 1).unbind(0))
        spikes = []
        for k in range(1, self.depth + 1):
            xs = getattr(self, f"sn{k}").run([getattr(self, f"fc{k}")(h) for h in xs])
            spikes.append(torch.stack(xs, 1))
        last = getattr(self, f"fc{self.depth + 1}")
        return torch.stack([last(h) for h in xs], 0).mean(0), spikes


def seeded_gpn(width: int = 24, n_in: int = 40, n_out: int = 4, seed: int = 0, gain: float = 4.0) -> SNNBase:
    """A small SNN_base_1 GPN with seeded weights and enough input drive to spike."""
    torch.manual_seed(seed)
    src = SNNBase("GPN", depth=1, width=width, n_in=n_in, n_out=n_out)
    with torch.no_grad():
        src.fc1.weight.mul_(gain)
    return src

