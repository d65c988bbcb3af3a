"""Small NetworkSpecs shared by the NIR tests (random but seeded)."""

import numpy as np
import torch

from spikedeploy.netspec import LayerSpec, NetworkSpec


def _f32(a):
    return np.asarray(a, dtype=np.float32)


def mixed_spec(seed: int = 0, readout: str = "mean", metadata=None) -> NetworkSpec:
    """CUBA-LIF (per-neuron du/dv, some du = 1, recurrent) -> LIF -> IF -> I readout."""
    rng = np.random.default_rng(seed)
    n_in, n1, n2, n3, n_out = 20, 16, 12, 10, 4
    du = _f32(rng.uniform(0.05, 1.0, n1))
    du[:3] = 1.0
    cuba = LayerSpec("cuba", rng.normal(0, 0.6, (n1, n_in)), du=du, dv=_f32(rng.uniform(0.02, 0.9, n1)),
                     vth=_f32(rng.uniform(0.5, 2.0, n1)), bias=_f32(rng.normal(0, 0.1, n1)),
                     rec_weight=rng.normal(0, 0.3, (n1, n1)))
    dv2 = _f32(rng.uniform(0.02, 1.0, n2))
    dv2[0] = 1.0  # no memory at all: v_t = u_t + bias
    lif = LayerSpec("lif", rng.normal(0, 0.6, (n2, n1)), du=1.0, dv=dv2,
                    vth=_f32(rng.uniform(0.5, 1.5, n2)), bias=_f32(rng.normal(0, 0.1, n2)))
    integ = LayerSpec("if", rng.normal(0, 0.6, (n3, n2)), du=1.0, dv=0.0, vth=1.25,
                      bias=_f32(rng.normal(0, 0.05, n3)))
    out = LayerSpec("readout", rng.normal(0, 1.0, (n_out, n3)), du=1.0, dv=0.0, vth=None,
                    bias=_f32(rng.normal(0, 0.1, n_out)))
    meta = {"model": "test", "seed": seed, "sizes": [n_in, n1, n2, n3, n_out]} if metadata is None else metadata
    return NetworkSpec(n_in, (cuba, lif, integ, out), readout=readout, dt=1e-3, metadata=meta)


def leaky_readout_spec(seed: int = 1) -> NetworkSpec:
    """LIF (recurrent) -> CubaLI readout, dt = 0.5 ms."""
    rng = np.random.default_rng(seed)
    lif = LayerSpec("h", rng.normal(0, 0.7, (9, 7)), du=1.0, dv=_f32(rng.uniform(0.1, 0.5, 9)), vth=1.0,
                    bias=_f32(rng.normal(0, 0.1, 9)), rec_weight=rng.normal(0, 0.4, (9, 9)))
    li = LayerSpec("o", rng.normal(0, 1.0, (3, 9)), du=_f32(rng.uniform(0.2, 0.8, 3)),
                   dv=_f32(rng.uniform(0.1, 0.5, 3)), vth=None, bias=_f32([0.1, -0.1, 0.0]))
    return NetworkSpec(7, (lif, li), readout="max", dt=5e-4)


def lif_only_spec(seed: int = 1) -> NetworkSpec:
    """A plain-LIF network (du = 1 everywhere, spiking output), for norse."""
    rng = np.random.default_rng(seed)
    h = LayerSpec("hidden", rng.normal(0, 0.8, (20, 30)), du=1.0, dv=_f32(rng.uniform(0.05, 0.9, 20)),
                  vth=_f32(rng.uniform(0.5, 1.5, 20)), bias=_f32(rng.normal(0, 0.05, 20)))
    o = LayerSpec("out", rng.normal(0, 0.8, (5, 20)), du=1.0, dv=_f32(rng.uniform(0.05, 0.9, 5)), vth=1.0)
    return NetworkSpec(30, (h, o), readout="last", dt=1e-3)


def spikes(seed: int, batch: int, steps: int, n: int, p: float = 0.2) -> torch.Tensor:
    """Held-out binary input [batch, steps, n]."""
    rng = np.random.default_rng(1000 + seed)
    return torch.from_numpy((rng.random((batch, steps, n)) < p).astype(np.float32))


def if_lif_spec(seed: int = 2) -> NetworkSpec:
    """IF (dv = 0, with bias) -> LIF, for norse."""
    rng = np.random.default_rng(seed)
    h = LayerSpec("h", rng.normal(0, 0.8, (20, 30)), du=1.0, dv=0.0, vth=3.0, bias=_f32(rng.normal(0, 0.05, 20)))
    o = LayerSpec("o", rng.normal(0, 0.8, (5, 20)), du=1.0, dv=0.3, vth=1.0)
    return NetworkSpec(30, (h, o), readout="last", dt=1e-3)
