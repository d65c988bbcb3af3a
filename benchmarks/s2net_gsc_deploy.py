"""s2net's conv2d network on Speech Commands' features, deployed on Loihi 2 with graded input.

The network: ``GSC_SMALL`` (two conv2d layers of 16 channels, kernel (4, 3), dilations
(1, 1), (4, 3): time taps as synaptic delays of up to 12 steps), lateral connections, reset to
zero (the fold is exact for it), thresholds kept at 0.1 or more, the mean-over-time readout.
Trained with the project's loop on a GSC folder (``--gsc DIR``; default the synthetic digits
in GSC's layout, ``<cache>/synth-gsc``): 40 log-Mel bands with deltas, 101 steps of 10 ms.

Deployment (each step measured on the whole test split):

1. float: the trained network;
2. folded: ``fold.s2net_conv.conv_to_spec(standardise="host")``, the LIF NetworkSpec (dense
   Toeplitz matrices, one per delay), fed the standardised features in float;
3. payloads: the standardised features encoded as signed 8-bit graded spikes
   (``quant.graded_input``: one scale from the calibration samples), the same float network
   on the payloads (the encoder's rounding and clipping);
4. quantised: ``quant.ptq.quantize(..., QuantConfig(input_bits=8))`` on ``--calib`` training
   samples, run in the bit-exact emulator;
5. Lava ``fixed_pt`` (Loihi 2's graded input: ``num_message_bits = 8`` on the first layer's
   connections; ``DelayDense`` / ``DelaySparse`` per delay) on ``--lava-samples`` test samples,
   verified spike for spike and voltage for voltage against the emulator, with sample-steps/s.

Also: firing rates per layer (emulator), SynOps per inference of the deployed network
(``metrics.run_counts``: graded input as MACs on the first layer, spikes as ACs).

Run: .venv/bin/python benchmarks/s2net_gsc_deploy.py [--gsc DIR] [--epochs 30] [--lava-samples 600]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from spikedeploy.data.gsc import GscDataset
from spikedeploy.data.synth_gsc import build_gsc_layout
from spikedeploy.fold.s2net_conv import conv_to_spec
from spikedeploy.lava_backend.run import run_stream, verify_bit_exact
from spikedeploy.metrics.run_counts import count_run
from spikedeploy.models.conv import GSC_SMALL, ConvNetworkConfig, ConvSpikingNetwork
from spikedeploy.models.spec_network import SpecNetwork
from spikedeploy.paths import cache_dir
from spikedeploy.quant.emulator import emulate, emulator_accuracy, quiet_gap, reduce_readout
from spikedeploy.quant.graded_input import encode, input_scale, payload_spec
from spikedeploy.quant.ptq import QuantConfig, quantize
from spikedeploy.training.config import TrainConfig
from spikedeploy.training.gsc_data import load_gsc_split
from spikedeploy.training.loop import TensorData, evaluate, fit

BITS = 8


def _train(root: Path, epochs: int) -> tuple[ConvSpikingNetwork, dict, dict]:
    config = ConvNetworkConfig(3, 40, GscDataset(root, "testing").n_classes, GSC_SMALL, reset="zero", b_min=0.1)
    splits = load_gsc_split(root, config, val_fraction=0.1, seed=0)      # what `train --data GSC_DIR` reads
    tensors = {s: TensorData(x, y) for s, (x, y) in zip(("train", "validation", "testing"), splits[:3])}
    torch.manual_seed(0)
    model = ConvSpikingNetwork(config)
    x_train = tensors["train"].x.float()
    model.set_input_norm(x_train.mean(dim=(0, 1)), x_train.std(dim=(0, 1)))
    cfg = TrainConfig(epochs=epochs, batch_size=64, lr=1e-3, early_stop_patience=6, activity_reg=0.1)
    t0 = time.perf_counter()
    res = fit(model, tensors["train"], tensors["validation"], cfg, progress=True)
    model.load_state_dict(res.best_state)
    model.eval()
    info = {"epochs": len(res.history), "best_epoch": res.best_epoch, "seconds": time.perf_counter() - t0,
            "float_test_acc": evaluate(model, tensors["testing"])["acc"]}
    return model, tensors, info


def _spec_acc(spec, x: np.ndarray, y: np.ndarray, batch: int = 64) -> float:
    net, correct = SpecNetwork(spec, dtype=torch.float64), 0
    with torch.no_grad():
        for b0 in range(0, len(x), batch):
            logits = net(torch.as_tensor(x[b0:b0 + batch], dtype=torch.float64))
            correct += int((logits.argmax(1).numpy() == y[b0:b0 + batch]).sum())
    return correct / len(x)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gsc", type=Path, default=None)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--calib", type=int, default=256, help="training samples that calibrate the quantiser")
    ap.add_argument("--lava-samples", type=int, default=600)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    root = args.gsc or build_gsc_layout(None, cache_dir() / "synth-gsc", workers=2).out_dir
    model, tensors, out = _train(root, args.epochs)
    spec = conv_to_spec(model, dt=0.01, standardise="host")
    mean, std = model.input_mean.reshape(-1).numpy(), model.input_std.reshape(-1).numpy()
    std_in = {s: ((t.x.float().numpy() - mean) / std) for s, t in tensors.items()}
    y_test = tensors["testing"].y.numpy()
    out["folded_test_acc"] = _spec_acc(spec, std_in["testing"], y_test)
    scale = input_scale(std_in["train"][:args.calib], BITS)
    payloads = {s: encode(v, scale, BITS) for s, v in std_in.items()}
    pspec = payload_spec(spec, scale, BITS)
    out["payload_float_test_acc"] = _spec_acc(pspec, payloads["testing"], y_test)
    loihi, report = quantize(pspec, payloads["train"][:args.calib], labels=tensors["train"].y.numpy()[:args.calib],
                             config=QuantConfig(input_bits=BITS, allow_approx=True))
    emu = emulator_accuracy(loihi, payloads["testing"], y_test)
    out.update({"input_bits": BITS, "input_scale": scale, "quantised_test_acc": emu["acc"],
                "emulator_rates_per_step": emu["rates"], "quantisation_approximations": report.approximations,
                "delays": {l.name: list(l.delays) for l in loihi.layers}})
    x_lava = payloads["testing"][:args.lava_samples]
    gap = quiet_gap(loihi, x_lava, max_gap=40) or 0
    t0 = time.perf_counter()
    res = run_stream(loihi, x_lava, gap_steps=gap, replicas=min(64, len(x_lava)), record_voltage="all")
    wall = time.perf_counter() - t0
    emu_stream = verify_bit_exact(res)                               # raises at the first difference
    voltage = torch.as_tensor(res.per_sample()["voltage"][loihi.layer_names[-1]])
    lava_pred = reduce_readout(loihi.metadata["readout"], voltage).argmax(1).numpy()
    out["lava"] = {"samples": len(x_lava), "gap": gap, "bit_exact": True, "independent": emu_stream.independent,
                   "test_acc": float((lava_pred == y_test[:len(x_lava)]).mean()), "wall_seconds": wall,
                   "sample_steps_per_second": res.timing["sample_steps_per_s"]}
    ref = emulate(loihi, payloads["testing"][:64])
    counts = count_run(loihi, payloads["testing"][:64], {n: ref.spikes[n] for n in loihi.layer_names[:-1]}, dt=0.01)
    out["synops_per_inference"] = {name: {"acs": r.acs_total / 64, "macs": r.macs_total / 64}
                                   for name, r in counts.synops.per_layer.items()}
    print(json.dumps(out, indent=1, default=float))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
