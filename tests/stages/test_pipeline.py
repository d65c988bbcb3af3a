"""The one-command pipeline: its configuration (TOML, validation) and a smoke-sized run end to end,
then the same run again (every stage reused) and with one setting changed (only its stages rerun)."""

import dataclasses
import importlib.util
import json
import shutil

import nir
import numpy as np
import pytest
import torch

from spikedeploy.data.synth_digits import SynthConfig
from spikedeploy.errors import ConfigError
from spikedeploy.fold import FoldConfig
from spikedeploy.lava_backend.results import read_results
from spikedeploy.metrics.comparison import CompareConfig
from spikedeploy.stages.export import QuantOptions
from spikedeploy.stages.pipeline import MANIFEST, LavaSettings, ModelPlan, PipelineConfig, run_pipeline

needs_lava = pytest.mark.skipif(importlib.util.find_spec("lava") is None,
                                reason="lava-nc is not installed (scripts/sd setup installs it)")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


# ----------------------------------------------------------------------------- configuration

def test_toml_settings_override_the_base(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text("""
seed = 3
threads = 1
[data.synth]
n_train = 40
n_test = 20
[binning]
n_steps = 10
[[models]]
name = "small-lif"
preset = "lif-ff-shd"
hidden = [8]
epochs = 2
[models.training]
lr = 0.005
[lava]
replicas = 4
[compare]
chips = ["loihi1"]
""")
    cfg = PipelineConfig.from_toml(path)
    assert (cfg.seed, cfg.threads, cfg.synth) == (3, 1, SynthConfig(n_train=40, n_test=20))
    assert cfg.binning == {"n_steps": 10, "binary": True}          # the default's binary kept
    assert cfg.models == (ModelPlan("small-lif", "lif-ff-shd", hidden=(8,), epochs=2, training={"lr": 0.005}),)
    run = cfg.models[0].run_config(cfg.binning, cfg.seed)
    assert (run.network.hidden, run.training.epochs, run.training.lr, run.training.seed) == ((8,), 2, 0.005, 3)
    assert run.binning.n_steps == 10 and run.binning.binary is True
    assert cfg.compare == CompareConfig(chips=("loihi1",)) and cfg.lava == LavaSettings(replicas=4)
    assert cfg.fold_config().clusters == 4                          # the default's fold settings kept
    assert cfg.fold.seed == cfg.quant.seed == 3                     # they follow the pipeline's seed
    assert cfg.quant == QuantOptions(calib_samples=256, seed=3)
    again = PipelineConfig.from_dict(cfg.to_dict())
    assert again == cfg


@pytest.mark.parametrize("text, field, message", [
    ("colour = 1\n", "pipeline", "unknown setting(s) colour"),
    ("[lava]\nreplica = 4\n", "lava", "unknown setting(s) replica"),
    ("[fold]\nclusters = 0\n", "fold.clusters", "must be an integer >= 1"),
    ('[[models]]\nname = "a"\npreset = "lif-shd"\nfold = true\n', "models[a].fold", "network has no fold"),
    ('[[models]]\nname = "a b"\npreset = "lif-shd"\n', "models.name", "use letters"),
    ('[[models]]\nname = "a"\npreset = "gpn-small"\nfold = false\n', "models[a].fold", "must be folded"),
    ('[[models]]\nname = "a"\npreset = "s2net-shd"\n[models.fold_options]\nclusters = 0\n',
     "models[a].fold_options: fold.clusters", "must be an integer >= 1"),
    ('[[models]]\nname = "a"\npreset = "nope"\n', "preset", "unknown preset 'nope'"),
    ('[compare]\nchips = []\n', "compare.chips", "at least one"),
    ('[data]\ndir = "x"\n[data.synth]\nn_train = 4\n', "data", "not both"),
    ('seed = "zero"\n', "seed", "must be an integer >= 0, got 'zero'"),
    ('threads = "two"\n', "threads", "must be an integer >= 0"),
    ("device = 3\n", "device", "must be a device name"),
    ("[quant]\ncalib_samples = 0\n", "quant.calib_samples", "must be a positive integer"),
    ("[lava]\nreplicas = 0\n", "lava.replicas", "must be an integer >= 1"),
])
def test_bad_settings_name_the_field(tmp_path, text, field, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        PipelineConfig.from_toml(path)
    assert err.value.field == f"{path}: {field}" and message in err.value.problem


def test_presets_are_what_the_main_job_promises():
    d = PipelineConfig.default()
    assert d.synth is None and d.data_dir is None                   # the built-in (cached) data set
    assert [(m.name, m.preset, m.hidden) for m in d.models] == [
        ("gpn", "gpn-small", (128,)), ("lif", "lif-shd", (128,)), ("s2net", "s2net-shd", (128,)),
        ("pr-v2", "pr-v2-shd", (128,)), ("s2net-gsc", "s2net-gsc-small", None)]
    assert [m.folds(d.binning) for m in d.models] == [True, False, True, True, False]
    assert [m.data for m in d.models] == ["default"] * 4 + ["gsc"]
    assert d.fold_config(d.models[3]).finetune_lr == 5e-4 and d.fold_config(d.models[0]).finetune_lr == 2e-3
    q = PipelineConfig.quick()
    assert all(m.epochs == 1 for m in q.models) and q.synth.n_train <= 200
    assert d.fold == FoldConfig(clusters=4, calib_samples=512, finetune_epochs=6, label_weight=1.0,
                                finetune_decays=True, seed=0)


def test_unknown_stage_to_stop_at(tmp_path):
    with pytest.raises(ConfigError, match="unknown stage 'deploy'"):
        run_pipeline(PipelineConfig.quick(), tmp_path, until="deploy")


# ----------------------------------------------------------------------------- end to end

TINY = dataclasses.replace(
    PipelineConfig.quick(), synth={"n_train": 40, "n_test": 20, "noise": False}, binning={"n_steps": 12, "binary": True},
    models=(ModelPlan("gpn", "gpn-small", hidden=(12,), epochs=1), ModelPlan("lif", "lif-shd", hidden=(12,), epochs=1)),
    fold={"clusters": 2, "calib_samples": 32}, quant={"calib_samples": 32, "allow_approx": True},
    lava={"replicas": 10}, threads=1)


@pytest.mark.lava
@needs_lava
@needs_espeak
def test_quick_pipeline_end_to_end_then_reused(tmp_path):
    n_threads = torch.get_num_threads()
    out = tmp_path / "run"
    logs: list[str] = []
    try:
        first = run_pipeline(TINY, out, progress=False, workers=2, command="spikedeploy pipeline --quick",
                             log=logs.append)
        files = ["checkpoints/gpn.pt", "checkpoints/lif.pt", "baselines.json", "folded/gpn.pt", "nir/gpn.nir",
                 "nir/lif.nir",
                 "nir/gpn.quant.json", "lava/gpn.npz", "lava/lif.npz", "report/README.md", "report/gpn/report.md",
                 "report/gpn/raster.png", "report/lif/comparison.json", MANIFEST, "data/train.h5"]
        for f in files:
            assert (out / f).is_file(), f
        assert [s.key for s in first.stages] == ["data", "train:gpn", "train:lif", "baselines", "fold:gpn",
                                                 "export:gpn", "lava:gpn", "compare:gpn", "export:lif", "lava:lif",
                                                 "compare:lif"]
        assert all(s.status == "ran" for s in first.stages[1:])
        assert logs[0].startswith("[1/11] data")
        base = json.loads((out / "baselines.json").read_text())
        assert set(base) == {"gru", "lstm"} and all(0 <= b["test_acc"] <= 1 for b in base.values())
        assert first.comparisons["lif"]["baseline_accuracy"] == {k: b["test_acc"] for k, b in base.items()}
        assert first.comparisons["gpn"]["baseline_accuracy"]["source"] == first.models["gpn"].trained.test_acc
        for name in ("gpn", "lif"):
            d = first.comparisons[name]
            res = read_results(out / "lava" / f"{name}.npz")
            assert d["n_samples"] == res.n_samples == 20
            assert d["accuracy"]["lava"] == d["accuracy"]["emulator"] == res.accuracy
            assert d["checks"]["lava_equals_emulator"] is True
            assert res.meta["model_sha256"] == d["inputs"]["model_sha256"]
        assert "gpn" in first.comparisons["gpn"]["accuracy"]              # the GPN before folding, counted
        index = first.report.read_text()
        assert "[gpn](gpn/report.md)" in index and "[lif](lif/report.md)" in index
        assert "spikedeploy pipeline --quick" in index
        mtimes = {f: (out / f).stat().st_mtime_ns for f in files}

        second = run_pipeline(TINY, out, progress=False, log=logs.append)
        assert [s.status for s in second.stages[1:]] == ["reused"] * 10
        assert [s.seconds for s in second.stages[1:]] == [round(s.seconds, 2) for s in first.stages[1:]]
        assert {f: (out / f).stat().st_mtime_ns for f in files if f != "report/README.md"} == \
            {f: t for f, t in mtimes.items() if f != "report/README.md"}
        assert second.comparisons == first.comparisons

        changed = dataclasses.replace(TINY, compare={"chips": ("loihi1",)})
        third = run_pipeline(changed, out, progress=False, log=logs.append)
        status = {s.key: s.status for s in third.stages}
        assert status["compare:gpn"] == status["compare:lif"] == "ran"
        assert all(v == "reused" for k, v in status.items() if k not in ("data", "compare:gpn", "compare:lif"))
        assert "loihi2" not in third.comparisons["lif"]["energy"]
        manifest = json.loads((out / MANIFEST).read_text())
        assert manifest["config"]["compare"] == CompareConfig(chips=("loihi1",)).to_dict()
        assert np.isclose(third.comparisons["lif"]["accuracy"]["lava"], first.comparisons["lif"]["accuracy"]["lava"])
    finally:
        torch.set_num_threads(n_threads)


@pytest.mark.lava
@needs_lava
@needs_espeak
def test_an_s2net_conv2d_model_runs_the_whole_pipeline(tmp_path):
    """train -> export (NIR Delay nodes) -> Lava -> compare for s2net's conv2d preset: the
    emulator equals Lava, the float run is counted with the conv layers' delays."""
    n_threads = torch.get_num_threads()
    cfg = dataclasses.replace(TINY, models=(ModelPlan("conv", "s2net-conv2d-shd", epochs=1),))
    try:
        run = run_pipeline(cfg, tmp_path / "run", progress=False)
    finally:
        torch.set_num_threads(n_threads)
    assert [s.key for s in run.stages] == ["data", "train:conv", "baselines", "export:conv", "lava:conv",
                                          "compare:conv"]
    d = run.comparisons["conv"]
    assert d["checks"]["lava_equals_emulator"] is True and d["accuracy"]["lava"] == d["accuracy"]["emulator"]
    assert {"float", "emulator", "lava"} <= set(d["accuracy"])
    assert d["multiplications"]["deployed"]["accumulates"] > 0
    delays = [n for n in nir.read(tmp_path / "run" / "nir" / "conv.nir").nodes if ".delay" in n]
    assert sorted(delays) == ["conv0.delay1", "conv1.delay2"]


@pytest.mark.lava
@needs_lava
@needs_espeak
def test_a_model_on_the_gsc_layout_deploys_with_graded_input_through_the_pipeline(tmp_path):
    """data = "gsc": the same synthetic utterances in GSC's layout, s2net's log-Mel features,
    exported with 8-bit graded input, run in Lava on the folder's testing clips and compared."""
    n_threads = torch.get_num_threads()
    plan = ModelPlan("gsc", "s2net-gsc-small", epochs=1, data="gsc", model={"reset": "zero", "b_min": 0.1})
    cfg = dataclasses.replace(TINY, models=(plan,), baselines={"cells": []})
    try:
        run = run_pipeline(cfg, tmp_path / "run", progress=False)
    finally:
        torch.set_num_threads(n_threads)
    assert [s.key for s in run.stages] == ["data", "train:gsc", "export:gsc", "lava:gsc", "compare:gsc"]
    assert run.stage("data").info["gsc_dir"] == str(tmp_path / "run" / "data-gsc")
    d = run.comparisons["gsc"]
    assert d["checks"]["lava_equals_emulator"] is True and d["accuracy"]["lava"] == d["accuracy"]["emulator"]
    assert d["n_samples"] == 20                                   # the folder's testing clips
    net = read_results(tmp_path / "run" / "lava" / "gsc.npz")
    assert net.meta["data_path"] == str(tmp_path / "run" / "data-gsc")
    with pytest.raises(ConfigError, match="unknown data 'wav'"):
        ModelPlan("x", "s2net-gsc-small", data="wav")
    with pytest.raises(ConfigError, match="GSC's layout"):
        run_pipeline(dataclasses.replace(cfg, data_dir=str(tmp_path / "run" / "data"), synth=None),
                     tmp_path / "other", progress=False)


@pytest.mark.lava
@needs_lava
@needs_espeak
def test_targets_add_the_loihi2_path_to_a_gated_model(tmp_path):
    """targets = ["loihi1", "loihi2"]: a GPN also goes to Loihi 2 (fold --target loihi2 -> Lava,
    bit-exact) and both paths are in the report's accuracy chain; a LIF model is said to need
    no graded spikes."""
    n_threads = torch.get_num_threads()
    both = ("loihi1", "loihi2")
    cfg = dataclasses.replace(TINY, baselines={"cells": []}, lava={"replicas": 10, "verify": True},
                              models=(ModelPlan("hw", "gpn-hw", hidden=(12,), epochs=1, targets=both),
                                      ModelPlan("lif", "lif-ff-shd", hidden=(12,), epochs=1, targets=list(both))))
    logs: list[str] = []
    try:
        run = run_pipeline(cfg, tmp_path / "run", progress=False, log=logs.append)
    finally:
        torch.set_num_threads(n_threads)
    assert [s.key for s in run.stages] == ["data", "train:hw", "train:lif", "fold:hw", "export:hw", "lava:hw",
                                          "loihi2:hw", "compare:hw", "export:lif", "lava:lif", "compare:lif"]
    l2 = run.models["hw"].loihi2
    assert l2.verified and l2.samples == 20 and l2.layer_outputs == {"hidden0": "spikes"}
    assert l2.lava_accuracy == l2.accuracy["loihi2"] and l2.accuracy["hard_gates"] == l2.accuracy["gpn"]
    assert (tmp_path / "run" / "loihi2" / "hw.npz").is_file()
    assert any("lif: targets loihi2: a lif network needs no graded spikes" in line for line in logs)
    index = run.report.read_text()
    assert "Loihi 2 path: Lava (fixed_pt, state broadcast graded)" in index
    with pytest.raises(ConfigError, match="Loihi 1 path carries the report"):
        ModelPlan("x", "gpn-hw", targets=["loihi2"])
    with pytest.raises(ConfigError, match="SHD-format data"):
        ModelPlan("x", "s2net-gsc-small", data="gsc", targets=both)
