"""s2net's convolutional SNN trained on Speech Commands' layout: the synthetic digits or a real GSC.

The data: a GSC folder (``--gsc DIR``; default: the synthetic digits written in GSC's layout
by ``spikedeploy data synth-digits --layout gsc`` into ``<cache>/synth-gsc``), read by
``spikedeploy.data.gsc.GscDataset`` as s2net's input: 40 log-Mel bands with deltas, 3 x 101 x
40 per 1 s clip (10 ms frames), standardised per channel and band with the training split's
statistics. The network: ``spikedeploy.models.conv.ConvSpikingNetwork``, conv2d layers causal
in time (``--layers small``: 16 + 16 channels, kernel (4, 3), dilations (1, 1), (4, 3);
``paper``: s2net's three 64-channel layers), lateral connections, the paper's subtractive
reset, readout the mean over time of a linear map of the last layer's spikes. Trained with
the project's loop (Adam, plateau schedule, early stopping on the validation list).

Reported: test accuracy, firing rate per layer (per neuron and step, and in Hz at 10 ms
steps), seconds per epoch, and SynOps per inference by NeuroBench's rules
(``spikedeploy.metrics.conv_ops``: the first layer's real-valued input as MACs, spikes as
ACs, the lateral term and the readout) with the Loihi 1 per-operation energy of the ACs.

Run: .venv/bin/python benchmarks/s2net_gsc.py [--gsc DIR] [--layers small|paper] [--epochs 10]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from spikedeploy.data.gsc import GscDataset
from spikedeploy.data.synth_gsc import build_gsc_layout
from spikedeploy.hardware import load_chip
from spikedeploy.metrics.conv_ops import conv_synops
from spikedeploy.models.conv import GSC_PAPER, GSC_SMALL, ConvNetworkConfig, ConvSpikingNetwork
from spikedeploy.paths import cache_dir
from spikedeploy.training.config import TrainConfig
from spikedeploy.training.gsc_data import load_gsc_split
from spikedeploy.training.loop import TensorData, evaluate, fit


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gsc", type=Path, default=None)
    ap.add_argument("--layers", choices=("small", "paper"), default="small")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    root = args.gsc or build_gsc_layout(None, cache_dir() / "synth-gsc", workers=2).out_dir
    config = ConvNetworkConfig(3, 40, GscDataset(root, "testing").n_classes,
                               GSC_SMALL if args.layers == "small" else GSC_PAPER)
    splits = load_gsc_split(root, config, val_fraction=0.1, seed=0)      # what `train --data GSC_DIR` reads
    tensors = {s: TensorData(x, y) for s, (x, y) in zip(("train", "validation", "testing"), splits[:3])}
    torch.manual_seed(0)
    model = ConvSpikingNetwork(config)
    x_train = tensors["train"].x.float()
    model.set_input_norm(x_train.mean(dim=(0, 1)), x_train.std(dim=(0, 1)))
    cfg = TrainConfig(epochs=args.epochs, batch_size=64, lr=1e-3, early_stop_patience=4, activity_reg=0.1)
    t0 = time.perf_counter()
    res = fit(model, tensors["train"], tensors["validation"], cfg, progress=True)
    seconds = time.perf_counter() - t0
    model.load_state_dict(res.best_state)
    test = evaluate(model, tensors["testing"])
    out = {"data": str(root), "layers": args.layers, "sizes": {s: len(t) for s, t in tensors.items()},
           "test_acc": test["acc"], "best_val_acc": res.best_val_acc, "best_epoch": res.best_epoch,
           "rates_per_step": test["rates"], "rates_hz": [r / 0.01 for r in test["rates"]],
           "seconds_per_epoch": seconds / max(len(res.history), 1),
           "parameters": sum(p.numel() for p in model.parameters())}
    ops = conv_synops(model, tensors["testing"].x.float())
    total = {k: sum(v[k] for v in ops.values()) for k in ("effective_acs", "effective_macs", "dense_ops",
                                                          "neuron_updates", "spikes")}
    loihi = load_chip("loihi1")
    out["synops_per_inference"] = {"per_layer": ops, "total": total}
    out["loihi1_operations_joules"] = (total["effective_acs"] * loihi.energy_pj("synaptic_op")
                                       + total["neuron_updates"] * loihi.energy_pj("neuron_update_active")) * 1e-12
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
