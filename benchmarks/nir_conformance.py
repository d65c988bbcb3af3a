"""NIR conformance matrix: our graphs in the peers' importers, the peers' graphs in our Lava run.

Part 1, consumers. For each of the main job's deployed graphs (``--graphs DIR``: the four
families, default the main job's output) and each consumer (snnTorch 1.0 ``import_from_nir``,
norse 1.1 ``from_nir``), the graph is given to the consumer twice: as the standard form
(``--for nir``, what every graph was before profiles) and in the consumer's profile
(``export-nir --for NAME``). The consumer runs ``--samples`` test samples step by step; its
hidden spikes are compared with our float model's (``SpecNetwork`` of the standard graph),
and its predictions (the readout integrated as the graph's readout says) with our float
model's. A refusal is a cell too, with the consumer's or the profile's reason.

Part 2, producers. Small networks built with snnTorch's and norse's own modules, exported by
their own exporters, run in ``lava-run --float`` with no ``--dt`` (producer conventions):
hidden spikes and predictions against the producer's own simulation.

Run: .venv/bin/python benchmarks/nir_conformance.py [--graphs DIR] [--data DIR] [--samples 100]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

FAMILIES = ("lif", "gpn", "s2net", "pr-v2")


def _frames(data: Path, graph_path: Path, samples: int) -> torch.Tensor:
    from spikedeploy.data.sampling import binary_frames, choose_samples
    from spikedeploy.data.shd import BinningConfig, load_spikes
    from spikedeploy.nir_io import read_config, read_nir

    spikes = load_spikes(data / "test.h5")
    binning = BinningConfig.from_dict(read_config(read_nir(graph_path))["binning"])
    x, _, _ = binary_frames(spikes, binning, choose_samples(spikes.labels, samples))
    return torch.as_tensor(np.asarray(x)).double()


def _logits(spec, current: torch.Tensor) -> torch.Tensor:
    """The readout's logits from its synaptic current per step [B, T, K] (du = 1 readouts)."""
    r = spec.layers[-1]
    dv = torch.as_tensor(r.dv).double()
    v, trace = torch.zeros_like(current[:, 0]), []
    for c in current.unbind(1):
        v = (1 - dv) * v + c
        trace.append(v)
    trace = torch.stack(trace, 1)
    return {"max": trace.amax(1), "last": trace[:, -1], "mean": trace[:, -1] / current.shape[1]}[spec.readout]


def _consume(consumer: str, graph, spec, x):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.nir_io.test_profiles import _norse_run, _snntorch_run

    if consumer == "snntorch":
        return _snntorch_run(graph, x)
    return _norse_run(graph, x, spec.dt)


def _cell(consumer: str, form: str, path: Path, x: torch.Tensor) -> dict:
    from spikedeploy.models.spec_network import SpecNetwork
    from spikedeploy.nir_io import load_nir, read_nir
    from spikedeploy.nir_io.export import spec_to_nir
    from spikedeploy.nir_io.profiles import PROFILES

    spec = load_nir(path)
    try:
        if form == "profile":
            pr = PROFILES[consumer](spec)
            graph = spec_to_nir(pr.spec, input_gain=pr.input_gain, param_dt=pr.param_dt,
                                readout_neuron=pr.readout_neuron, profile=consumer)
        else:
            graph = read_nir(path)
        spikes, out = _consume(consumer, graph, spec, x)
    except Exception as err:  # noqa: BLE001 - a refusal (ours or the consumer's) is a result here
        return {"refused": f"{type(err).__name__}: {str(err).splitlines()[0][:160]}"}
    with torch.no_grad():   # float32, as the consumers (and the trained model) compute
        run = SpecNetwork(spec, dtype=torch.float32).run(x.float())
    ours = run.outputs[:-1]
    if len(spikes) != len(ours):
        return {"refused": f"the consumer ran {len(spikes)} spiking layer(s), the model has {len(ours)}"}
    equal = float(np.mean([float((a == b.double()).double().mean()) for a, b in zip(spikes, ours)]))
    row = {"hidden_spikes_equal": equal}
    if form == "profile" and out.shape[-1] == spec.output_size:
        row["predictions_equal"] = float((_logits(spec, out).argmax(1) == run.logits.double().argmax(1)).double().mean())
    return row


def consumers(graphs: Path, data: Path, samples: int) -> dict:
    table = {}
    for fam in FAMILIES:
        path = graphs / f"{fam}.nir"
        x = _frames(data, path, samples)
        for consumer in ("snntorch", "norse"):
            for form in ("standard", "profile"):
                table[f"{fam}/{consumer}/{form}"] = _cell(consumer, form, path, x)
                print(fam, consumer, form, table[f"{fam}/{consumer}/{form}"], flush=True)
    return table


def producers(samples: int) -> dict:
    """The producer tests' networks through lava-run --float with no --dt."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import nir

    from spikedeploy.data.shd import BinningConfig, ShdDataset
    from spikedeploy.lava_backend.results import read_results
    from spikedeploy.stages.lava_run import BinningChoice, LavaRunOptions, lava_run
    from tests.nir_io.test_producers import PRODUCERS
    from tests.training.toy_shd import write_toy_dataset

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = write_toy_dataset(Path(tmp) / "data", n_train=10, n_test=samples, channels=40)
        x = ShdDataset(data / "test.h5", BinningConfig(n_steps=20, duration=0.5, binary=True, n_channels=40),
                       progress=False).tensors()[0].double()
        for name, (make, export, run) in PRODUCERS.items():
            net = make()
            path = Path(tmp) / f"{name}.nir"
            nir.write(path, export(net))
            summary = lava_run(LavaRunOptions(path, data / "test.h5", config="floating_pt", out=Path(tmp) / "r.npz",
                                              binning=BinningChoice(n_steps=20, duration=0.5, binary=True)))
            res = read_results(Path(tmp) / "r.npz")
            theirs = run(net, x[res.sample_indices])
            equal = [float((torch.as_tensor(s).double() == a).double().mean())
                     for s, a in zip(res.spikes.values(), theirs)]
            out[name] = {"hidden_spikes_equal": float(np.mean(equal)), "dt": summary.dt,
                         "dt_source": summary.dt_source, "samples": int(len(res.labels))}
            print(name, out[name], flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    from spikedeploy.paths import cache_dir, default_data_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--graphs", type=Path, default=None, help="folder with lif.nir, gpn.nir, s2net.nir, pr-v2.nir "
                                                            "(default: the main job's, <cache>/main/nir)")
    ap.add_argument("--data", type=Path, default=None, help="the data the graphs were made for (default: built-in)")
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    graphs = args.graphs or cache_dir() / "main" / "nir"
    result = {"consumers": consumers(graphs, args.data or default_data_dir(), args.samples),
              "producers": producers(24)}
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
