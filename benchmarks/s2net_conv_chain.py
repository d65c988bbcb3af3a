"""s2net's deployable convolutional presets on the default data: trained float -> quantised -> Lava.

``--preset s2net-conv-shd`` (two conv1d layers over the 700 channels pooled to 140 bands,
reset to zero, LI readout) or ``s2net-conv2d-shd`` (two conv2d layers: the time taps are
synaptic delays) trained with the project's loop (``--epochs``, ``--time-steps`` binary
frames), exported with the Loihi integers (``fold.s2net_conv``: the dense form, one matrix per
delay), run in Lava (``fixed_pt``) on every test sample with ``--verify`` (spike for spike
against the emulator); the wall time of each stage is printed.
The stages are the library calls behind ``spikedeploy train``, ``export-nir --quantized`` and
``lava-run --verify``.

Run: .venv/bin/python benchmarks/s2net_conv_chain.py [--preset s2net-conv2d-shd] [--epochs 20] [--time-steps 40]
     [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from spikedeploy.paths import default_data_dir
from spikedeploy.stages.export import ExportOptions, export
from spikedeploy.stages.lava_run import LavaRunOptions, lava_run
from spikedeploy.stages.train import TrainOptions, train
from spikedeploy.training.run_config import RunConfig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="s2net-conv-shd", choices=("s2net-conv-shd", "s2net-conv2d-shd"))
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--time-steps", type=int, default=40)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    data = default_data_dir()
    with tempfile.TemporaryDirectory() as tmp:
        ckpt, nir_path = Path(tmp) / "conv.pt", Path(tmp) / "conv.nir"
        run = RunConfig.resolve(preset=args.preset, binning={"n_steps": args.time_steps},
                                training={"epochs": args.epochs})
        seconds = {}
        t0 = time.perf_counter()
        trained = train(TrainOptions(run, data_dir=data, out=ckpt, device="cpu", progress=False))
        seconds["train"] = time.perf_counter() - t0
        exported = export(ExportOptions(ckpt, out=nir_path, quantized=True, data_dir=data))
        seconds["export"] = time.perf_counter() - t0 - seconds["train"]
        ran = lava_run(LavaRunOptions(nir_path, data / "test.h5", verify=True))
        seconds["lava"] = time.perf_counter() - t0 - seconds["train"] - seconds["export"]
    out = {"preset": args.preset, "float_test_acc": trained.test_acc, "lava_test_acc": ran.accuracy,
           "samples": int(len(ran.labels)), "seconds": {k: round(v, 1) for k, v in seconds.items()},
           "firing_rates_float": trained.firing_rates, "epochs": len(trained.history),
           "quantisation_approximations": list(exported.report.approximations) if exported.report else []}
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
