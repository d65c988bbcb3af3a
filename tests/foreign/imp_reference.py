"""Ponghiran & Roy's improved spiking models (wponghiran/imp-snns-for-sl), written here from their
published equations (improved_spiking_model_v1/_v2.py, fake_spike_quantization.py) with their
parameter names and shapes, in evaluation mode with multi-bit spikes and batch norm."""

from __future__ import annotations

import torch
from torch import nn


class FSQ(nn.Module):
    """The quantiser: buffers as theirs; symmetric, truncating, zero within +-threshold levels."""

    def __init__(self, bits: int, threshold: float, lo: float, hi: float):
        super().__init__()
        self.bits, self.threshold = bits, threshold
        for name, value in (("ema_momentum", 0.1), ("tracked_min_biased", lo * 0.9), ("tracked_min", lo),
                            ("tracked_max_biased", hi * 0.9), ("tracked_max", hi), ("iter_count", 57.0),
                            ("zero_point", 0.0)):
            self.register_buffer(name, torch.tensor(value) if name == "ema_momentum" else torch.tensor([value]))
        m = max(abs(lo), abs(hi))
        self.register_buffer("scale", torch.tensor([2 ** (bits - 1) * (1 - 1e-4) / m]))

    def forward(self, x):
        m = torch.maximum(self.tracked_min.abs(), self.tracked_max.abs())
        x = torch.clamp(x, -m.item(), m.item())
        q = torch.trunc(self.scale * x)
        q[(q >= -self.threshold) & (q <= self.threshold)] = 0.0
        return q / self.scale


class ImprovedModel(nn.Module):
    def __init__(self, v2: bool, n_in: int, hidden: int, layers: int, n_out: int, bits: int = 6, threshold: int = 3):
        super().__init__()
        self.v2, self.h, self.n = v2, hidden, layers
        self.fsq_x = FSQ(bits, threshold, -2.0, 3.0)
        self.linear_ws = nn.ModuleList(nn.Linear(n_in if i == 0 else hidden, 2 * hidden, bias=False)
                                       for i in range(layers))
        if v2:
            self.linear_us = nn.ModuleList(nn.Linear(hidden, 2 * hidden, bias=False) for _ in range(layers))
        self.bn_zs = nn.ModuleList(nn.BatchNorm1d(hidden) for _ in range(layers))
        self.bn_cs = nn.ModuleList(nn.BatchNorm1d(hidden) for _ in range(layers))
        self.final_bn = nn.BatchNorm1d(n_out)
        self.fsq_hs = nn.ModuleList(FSQ(bits, threshold, -1.0 - 0.5 * i, 1.5 + 0.5 * i) for i in range(layers))
        self.final_linear = nn.Linear(hidden, n_out, bias=False)
        for bn in [*self.bn_zs, *self.bn_cs, self.final_bn]:       # trained-looking statistics
            with torch.no_grad():
                bn.weight.uniform_(0.5, 1.5)
                bn.bias.uniform_(-0.3, 0.3)
                bn.running_mean.uniform_(-0.5, 0.5)
                bn.running_var.uniform_(0.5, 2.0)

    def forward(self, xs):
        """``xs`` [T, B, n_in] (time first, as theirs) -> (per-frame outputs [T, B, n_out], spikes per layer)."""
        acc, sparse = torch.zeros_like(xs[0]), []
        for x in xs:
            acc = acc + x
            q = self.fsq_x(acc)
            sparse.append(q)
            acc = acc - q
        xs, spikes = torch.stack(sparse), []
        for i in range(self.n):
            wz, wc = self.linear_ws[i](xs).chunk(2, -1)
            wz = self.bn_zs[i](wz.reshape(-1, self.h)).reshape(wz.shape)
            wc = self.bn_cs[i](wc.reshape(-1, self.h)).reshape(wc.shape)
            h_prev = torch.zeros_like(wz[0])
            acc, y, out = torch.zeros_like(h_prev), torch.zeros_like(h_prev), []
            for t in range(xs.shape[0]):
                uz, uc = self.linear_us[i](y).chunk(2, -1) if self.v2 else (0.0, 0.0)
                z = torch.sigmoid(wz[t] + uz)
                c = torch.relu(wc[t] + uc)
                h = (1 - z) * c + z * h_prev
                acc = acc + h
                y = self.fsq_hs[i](acc)
                out.append(y)
                h_prev, acc = h, acc - y
            xs = torch.stack(out)
            spikes.append(xs.transpose(0, 1))
        ws = self.final_bn(self.final_linear(xs).reshape(-1, self.final_bn.num_features))
        return ws.reshape(xs.shape[0], xs.shape[1], -1), spikes
