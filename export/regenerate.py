"""Regenerate the reference NIR graphs of the bundled presets and their expected outputs.

    .venv/bin/python export/regenerate.py            # rewrite export/*.nir and *.expected.npz
    .venv/bin/python export/regenerate.py --check    # regenerate in a temporary folder and
                                                     # compare with the shipped files

The models are **freshly initialised with fixed seeds, not trained** (so that this
script needs no data set and runs in seconds): each preset's network at a small
hidden size, its per-neuron decays, thresholds and biases spread by a seeded draw
(a trained model's are never all equal), and its feed-forward weights scaled so the
layers spike at a few to a few tens of percent. The folded GPN is a freshly
initialised ``gpn-small`` folded by :func:`spikedeploy.fold.fold_gpn` on the
calibration inputs. Inputs are seeded Bernoulli spike trains (binary, 700 channels,
T = 100 steps of 10 ms) whose rate follows a slow per-channel-band envelope.

For each model ``<name>`` this writes (see README.md):

- ``<name>.nir``: the float NetworkSpec as NIR (``write_nir``: verified by re-import),
  with the quantised LoihiNetwork (calibrated on 64 input samples) under
  ``spikedeploy.quantization`` and how it was made under ``spikedeploy.config``;
- ``<name>.expected.npz``: 8 held-out inputs ``x`` [8, 100, 700] (uint8) and what they
  give: ``float_logits`` and ``float_readout_v`` [8, 100, n_out] of the float spec
  (``SpecNetwork``, float32), ``float_spikes_<layer>`` for each hidden layer, and from
  the bit-exact emulator ``emu_spikes_<layer>`` (int8), ``emu_readout_v`` (int64) and
  ``emu_logits`` (float64, via the stored readout scale).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
SEED = 20261122
T = 100
DT = 1.0 / T
CHANNELS = 700
N_CALIB = 64
N_HELD_OUT = 8


@dataclass(frozen=True)
class Reference:
    name: str
    preset: str
    hidden: tuple[int, ...]
    weight_gain: float
    fold: bool = False


REFERENCES = (
    Reference("lif-shd", "lif-shd", (32,), 4.0),
    Reference("cuba-shd", "cuba-shd", (32,), 2.0),
    Reference("lif-ff-shd", "lif-ff-shd", (32,), 4.0),
    Reference("gpn-small-folded", "gpn-small", (32,), 8.0, fold=True),
)


def spike_inputs(n: int, seed: int) -> torch.Tensor:
    """[n, T, 700] binary spikes: 0.5-8 % rate, each band of 50 channels following its own slow envelope."""
    rng = np.random.default_rng(seed)
    bands = CHANNELS // 50
    t = np.arange(T)[None, :, None]
    phase = rng.uniform(0, 2 * np.pi, (n, 1, bands))
    period = rng.uniform(30, 90, (n, 1, bands))
    env = 0.005 + 0.075 * (0.5 + 0.5 * np.sin(2 * np.pi * t / period + phase)) ** 3
    rate = np.repeat(env, 50, axis=2)
    return torch.from_numpy((rng.random((n, T, CHANNELS)) < rate).astype(np.float32))


def build_model(ref: Reference, calib: torch.Tensor):
    """The (folded, for the GPN) LIF / CUBA-LIF network of ``ref`` in evaluation mode, and a note."""
    from spikedeploy.models import build_network, get_preset

    torch.manual_seed(SEED)
    g = torch.Generator().manual_seed(SEED + 1)
    cfg = get_preset(ref.preset).network.replace(hidden=list(ref.hidden), weight_gain=ref.weight_gain)
    net = build_network(cfg).eval()
    if ref.fold:
        from spikedeploy.fold import FoldConfig, fold_gpn

        folded, _ = fold_gpn(net, calib, FoldConfig(method="lsq", clusters=4, batch_size=32))
        return folded.eval(), ("freshly initialised gpn-small (hidden 32, seed %d), folded by fold_gpn "
                               "(lsq, 4 decay clusters) on the calibration inputs; not trained" % SEED)
    with torch.no_grad():
        for layer in net.layers:
            n, size = layer.neuron, layer.size
            u = lambda lo, hi: lo + (hi - lo) * torch.rand(size, generator=g, dtype=torch.float64)  # noqa: E731
            params = dict(dv=u(0.05, 0.3), vth=u(0.8, 1.2), bias=u(-0.02, 0.04))
            if n.kind == "cuba-lif":
                params["du"] = u(0.2, 0.6)
            n.set_neuron_params(**params)
        net.readout.neuron.set_neuron_params(dv=0.05 + 0.1 * torch.rand(cfg.n_classes, generator=g,
                                                                          dtype=torch.float64))
    return net, (f"freshly initialised {ref.preset} (hidden {list(ref.hidden)}, seed {SEED}, weight gain "
                 f"{ref.weight_gain}, per-neuron dv/du/vth/bias drawn uniformly); not trained")


def make_reference(ref: Reference, out_dir: Path) -> dict:
    from spikedeploy.models.spec_network import SpecNetwork
    from spikedeploy.models.to_spec import model_to_spec
    from spikedeploy.nir_io.export import write_nir
    from spikedeploy.quant.emulator import emulate, emulator_logits
    from spikedeploy.quant.ptq import quantize

    calib = spike_inputs(N_CALIB, SEED + 10)
    held = spike_inputs(N_HELD_OUT, SEED + 20)
    model, note = build_model(ref, calib)
    spec = model_to_spec(model, dt=DT, metadata={"reference": ref.name})
    loihi, report = quantize(spec, calib)
    config = {"reference": ref.name, "made_by": "export/regenerate.py", "how": note,
              "model": model.config.to_dict(),
              "inputs": f"seeded Bernoulli spikes ({CHANNELS} channels, T = {T}, dt = {DT} s): calibration seed "
                        f"{SEED + 10} ({N_CALIB} samples), held-out seed {SEED + 20} ({N_HELD_OUT} samples)",
              "quantization": {"config": report.config, "report": report.to_dict()}}
    write_nir(out_dir / f"{ref.name}.nir", spec, loihi=loihi, config=config)
    with torch.no_grad():
        run = SpecNetwork(spec).run(held)
        model_logits = model(held)
    if not torch.allclose(model_logits, run.logits, atol=1e-5):
        raise RuntimeError(f"{ref.name}: SpecNetwork differs from the model's forward")
    emu = emulate(loihi, held, record=("s", "v"))
    arrays = {"x": held.to(torch.uint8).numpy(), "float_logits": run.logits.numpy(),
              "float_readout_v": run.voltages[-1].numpy(),
              "emu_readout_v": emu.readout.numpy(), "emu_logits": emulator_logits(loihi, emu.readout).numpy()}
    rates = {}
    for i, layer in enumerate(spec.layers[:-1]):
        arrays[f"float_spikes_{layer.name}"] = run.outputs[i].to(torch.int8).numpy()
        arrays[f"emu_spikes_{layer.name}"] = emu.spikes[layer.name].numpy()
        rates[layer.name] = (float(run.outputs[i].mean()), float(emu.spikes[layer.name].float().mean()))
    np.savez_compressed(out_dir / f"{ref.name}.expected.npz", **arrays)
    agree = float((run.logits.argmax(1) == torch.as_tensor(arrays["emu_logits"]).argmax(1)).float().mean())
    return {"name": ref.name, "rates (float, emulator)": rates, "held-out argmax agreement": agree,
            "calibration spike agreement": [l.spike_agreement for l in report.layers if l.spiking]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=HERE, help="folder to write (default: export/)")
    p.add_argument("--check", action="store_true",
                   help="regenerate into a temporary folder and compare with the files in --out")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if not args.check:
        for ref in REFERENCES:
            print(make_reference(ref, args.out))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        bad = []
        for ref in REFERENCES:
            make_reference(ref, Path(tmp))
            new = np.load(Path(tmp) / f"{ref.name}.expected.npz")
            old = np.load(args.out / f"{ref.name}.expected.npz")
            for k in new.files:
                if k not in old.files or not np.array_equal(new[k], old[k]):
                    bad.append(f"{ref.name}: {k}")
        print("identical" if not bad else "differs: " + ", ".join(bad))
        return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
