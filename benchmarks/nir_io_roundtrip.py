"""NIR export / import cost of a NetworkSpec at the project's model sizes.

Builds a random spec (input -> hidden CUBA-LIF layers, recurrent -> non-spiking
readout), then times side by side: building the graph (``spec_to_nir``), writing it
with and without the re-import check (``write_nir(verify=...)``), reading it
(``read_nir``, nir's type check included) and converting it (``nir_to_spec``). Each
figure is the best of ``--repeat`` runs; the file size is reported too.

    .venv/bin/python benchmarks/nir_io_roundtrip.py                  # 700 -> 1024r -> 20
    .venv/bin/python benchmarks/nir_io_roundtrip.py --hidden 128     # the small presets
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def make_spec(n_in: int, hidden: list[int], n_out: int, seed: int = 0):
    from spikedeploy.netspec import LayerSpec, NetworkSpec

    rng = np.random.default_rng(seed)
    layers, size = [], n_in
    for i, n in enumerate(hidden):
        layers.append(LayerSpec(f"h{i}", rng.normal(0, 0.1, (n, size)), du=rng.uniform(0.05, 1, n).astype(np.float32),
                                dv=rng.uniform(0.05, 1, n).astype(np.float32), vth=1.0,
                                bias=rng.normal(0, 0.01, n).astype(np.float32),
                                rec_weight=rng.normal(0, 0.05, (n, n))))
        size = n
    layers.append(LayerSpec("readout", rng.normal(0, 0.1, (n_out, size)), du=1.0, dv=0.0, vth=None))
    return NetworkSpec(n_in, tuple(layers), readout="mean", dt=0.01)


def best(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=700)
    ap.add_argument("--hidden", type=int, nargs="+", default=[1024])
    ap.add_argument("--outputs", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)

    from spikedeploy.nir_io import nir_to_spec, read_nir, spec_to_nir, write_nir

    spec = make_spec(args.inputs, args.hidden, args.outputs)
    n_params = sum(l.weight.size + (0 if l.rec_weight is None else l.rec_weight.size) for l in spec.layers)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "net.nir"
        t_graph, _ = best(lambda: spec_to_nir(spec), args.repeat)
        t_write, _ = best(lambda: write_nir(path, spec, verify=False), args.repeat)
        t_write_v, _ = best(lambda: write_nir(path, spec, verify=True), args.repeat)
        size = path.stat().st_size
        t_read, graph = best(lambda: read_nir(path), args.repeat)
        t_conv, _ = best(lambda: nir_to_spec(graph), args.repeat)
    sizes = " -> ".join([str(args.inputs)] + [f"{h}r" for h in args.hidden] + [str(args.outputs)])
    print(f"network {sizes}: {n_params:,} weights, file {size / 2**20:.2f} MiB (gzip, as nir.write)")
    print(f"  spec_to_nir                  {t_graph * 1e3:8.1f} ms")
    print(f"  write_nir(verify=False)      {t_write * 1e3:8.1f} ms")
    print(f"  write_nir(verify=True)       {t_write_v * 1e3:8.1f} ms  ({t_write_v / t_write:.2f}x)")
    print(f"  read_nir (type-checked)      {t_read * 1e3:8.1f} ms")
    print(f"  nir_to_spec                  {t_conv * 1e3:8.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
