"""The comparison report: the numbers in the Markdown equal the comparison's, every file is there."""

import json

import numpy as np
import pytest
import torch

from spikedeploy.metrics.report import (FILES, fmt_energy, fmt_num, fmt_rel, render_markdown, write_index,
                                        write_report)

from ..stages.compare_setup import compared, emulator_results, make_case

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def cmp(tmp_path_factory):
    torch.set_num_threads(1)
    case = make_case(tmp_path_factory.mktemp("report_case"))
    results = emulator_results(case, case["folder"] / "results.npz")
    return compared(case["ckpt"], results)


@pytest.fixture(scope="module")
def written(cmp, tmp_path_factory):
    """One report folder, written once for the tests that read it."""
    folder = tmp_path_factory.mktemp("report_out") / "report"
    md = write_report(cmp, folder, command="spikedeploy compare model.pt ...")
    return folder, md


def test_number_formats():
    assert fmt_energy(7.168718e-08) == "71.69 nJ"
    assert fmt_energy(1.5e-12) == "1.5 pJ"
    assert fmt_energy(2.5e-6) == "2.5 µJ"
    assert fmt_energy(0.0) == "0 J"
    assert fmt_energy(None) == "-"
    assert fmt_rel(-0.0212) == "-2.12 %"
    assert fmt_rel(0.0) == "+0.00 %"
    assert fmt_rel(float("inf")) == "+inf"
    assert fmt_num(1488.67) == "1,489"
    assert fmt_num(0.16953125) == "0.1695"
    assert fmt_num(None) == "-" and fmt_num(0.0) == "0"


def test_report_folder_holds_every_file(written):
    folder, md = written
    assert md == folder / "report.md"
    for name in FILES:
        assert (folder / name).stat().st_size > 0
        if name.endswith(".png"):
            assert (folder / name).read_bytes()[:8] == PNG
    import matplotlib.image

    raster = matplotlib.image.imread(folder / "raster.png")
    assert raster.ndim == 3 and raster.shape[1] > raster.shape[0]       # two columns side by side
    assert not list(folder.glob(".*tmp*"))                             # atomic writes left nothing behind
    assert md.read_text().startswith("# Comparison report: model.pt")


def test_json_holds_the_comparisons_numbers(cmp, written):
    data = json.loads((written[0] / "comparison.json").read_text())
    assert data["accuracy"] == {k: r.accuracy for k, r in cmp.runs.items()}
    assert data["energy"]["loihi1"]["joules_per_inference"] == cmp.energy["loihi1"].total_j
    assert data["energy_ratios"]["gpu/loihi1"] == cmp.energy_ratio("loihi1", "gpu")
    assert data["layers"][0]["synops"]["lava"] == cmp.layers[0].synops["lava"]
    assert data["gpu_measured"] is None and data["gpu_status"] == cmp.gpu_status
    assert data["command"] == "spikedeploy compare model.pt ..."


def test_markdown_tables_show_the_numbers(cmp):
    text = render_markdown(cmp, command="spikedeploy compare model.pt --lava-results r.npz")
    hid = cmp.layers[0]
    row = next(line for line in text.splitlines() if line.startswith("| `hidden0` | 16 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2:5] == [fmt_num(hid.rate["float"]), fmt_num(hid.rate["emulator"]), fmt_num(hid.rate["lava"])]
    assert cells[5] == fmt_rel(hid.rate_rel)
    assert cells[6:9] == [fmt_num(hid.synops[k]) for k in ("float", "emulator", "lava")]
    assert cells[9] == fmt_rel(hid.synops_rel)
    for key in ("float", "emulator", "lava"):
        assert f"{100 * cmp.runs[key].accuracy:.2f} %" in text
    assert fmt_energy(cmp.energy["loihi1"].total_j) in text
    assert "not measured: no NVIDIA GPU" in text
    for line in cmp.energy["loihi2"].assumptions + cmp.energy["gpu"].assumptions:
        assert f"- {line}" in text
    assert "ESTIMATE" in text
    assert cmp.inputs["model_sha256"][:16] in text and cmp.inputs["data_sha256"][:16] in text
    assert "spikedeploy compare model.pt --lava-results r.npz" in text
    for png in ("rates.png", "synops.png", "energy.png", "raster.png"):
        assert f"]({png})" in text


def test_index_links_each_model_report(cmp, tmp_path):
    for name in ("gpn", "lif"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "report.md").write_text(render_markdown(cmp))
    summary = json.loads(json.dumps(cmp.to_dict(), default=str))        # as read back from comparison.json
    entries = [{"name": n, "report": tmp_path / n / "report.md", "summary": summary,
                "accuracy": {"float": {"acc": 0.5, "on": "test"}, "Lava": {"acc": 0.25, "on": "test"}}}
               for n in ("gpn", "lif")]
    path = write_index(tmp_path, entries, stages=[{"stage": "train", "status": "ran", "seconds": 1.25}],
                       command="spikedeploy main")
    text = path.read_text()
    assert "[gpn](gpn/report.md)" in text and "[lif](lif/report.md)" in text
    assert "| float | 50.00 % | test |" in text and "| Lava | 25.00 % | test |" in text
    assert "| train | ran | 1.2 | 0.0 |" in text or "| train | ran | 1.3 | 0.0 |" in text
    assert f"{100 * cmp.runs['lava'].accuracy:.2f} %" in text
    row = next(line for line in text.splitlines() if line.startswith("| [lif]"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:5] == [str(cmp.n_samples)] + [f"{100 * cmp.runs[k].accuracy:.2f} %"
                                                 for k in ("float", "emulator", "lava")]
    assert cells[6] == fmt_num(cmp.runs["emulator"].counts.synops.effective_ops)
    devices, ops, mults = [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()
                           if line.startswith("| lif |")]
    loihi1, h200 = cmp.targets["loihi1"].joules, cmp.targets["h200"].joules
    assert devices[1] == f"{fmt_energy(loihi1.expected)} ({fmt_energy(loihi1.low)} to {fmt_energy(loihi1.high)})"
    assert devices[-1].startswith(f"{h200.expected / loihi1.expected:.3g}x (")
    assert ops[1:5] == [fmt_energy(cmp.energy[k].total_j) for k in ("loihi1", "loihi2", "gpu")] + [
        f"{cmp.energy_ratio('loihi1'):.3g}x"]
    assert "loihi2 (ESTIMATE)" in text and "a lower bound of any conventional device, not a GPU" in text
    m = cmp.multiplications
    key = "source" if "source" in m else "deployed"
    assert mults[1] == key and mults[3] == fmt_num(m[key].multiplications)
    assert mults[5] == f"{m['gru'].multiplications / m[key].multiplications:.3g}x"
    gru_row = next(line for line in text.splitlines() if line.startswith("| GRU | same width, dense |"))
    assert fmt_num(m["gru"].multiplications) in gru_row
    assert np.isfinite(cmp.energy_ratio())


def test_json_and_markdown_hold_the_device_models_with_their_ranges(cmp, written):
    from spikedeploy.metrics.report import energy_headline

    data = json.loads((written[0] / "comparison.json").read_text())
    t = data["energy"]["targets"]
    assert set(t) == {"loihi1", "loihi2", "h200", "h200@256", "jetson_orin_nano", "jetson_orin_nano@256",
                      "desktop_cpu", "this_cpu", "gpu_arithmetic"}
    for name, d in t.items():
        j = d["joules_per_inference"]
        assert 0 < j["low"] <= j["expected"] <= j["high"], name
        assert d["kind"] in ("neuromorphic", "gpu", "cpu", "accelerator") and d["assumptions"], name
    assert (t["loihi1"]["basis"], t["h200"]["basis"], t["gpu_arithmetic"]["basis"]) == ("modelled", "modelled",
                                                                                         "lower bound")
    assert t["this_cpu"]["basis"] == "measured time x modelled power"
    assert t["gpu_arithmetic"]["joules_per_inference"]["expected"] == cmp.energy["gpu"].total_j
    # the chip's operations are part of its device model, never more than it
    assert t["loihi1"]["joules_per_inference"]["low"] > cmp.energy["loihi1"].total_j
    head = data["energy_headline"]
    assert (head["chip"], head["device"]) == ("loihi1", "h200")
    assert head["device_over_chip"]["expected"] == pytest.approx(
        t["h200"]["joules_per_inference"]["expected"] / t["loihi1"]["joules_per_inference"]["expected"])
    text = (written[0] / "report.md").read_text()
    assert energy_headline(cmp) in text and "a lower bound of any conventional device" in text


def test_the_source_network_and_equal_width_rnns_are_counted_on_conventional_hardware(cmp, written):
    from spikedeploy.metrics.source_ops import recurrent_baseline_ops

    data = json.loads((written[0] / "comparison.json").read_text())
    m = data["multiplications"]
    assert set(m) >= {"deployed", "gru", "lstm"}
    n_in, hidden = cmp.runs["float"].counts.n_in[0], cmp.layers[0].n_neurons
    steps = cmp.n_steps
    gru = recurrent_baseline_ops("gru", n_in, hidden, cmp.layers[-1].n_neurons, steps)
    assert m["gru"]["multiplications"] == gru.multiplications == 3 * (n_in + hidden) * hidden * steps + \
        3 * hidden * steps + cmp.layers[-1].n_neurons * hidden
    # the deployed network reads binary spikes: its accumulates are the float run's effective ACs
    assert m["deployed"]["accumulates"] == pytest.approx(cmp.runs["float"].counts.synops.effective_acs)
    text = (written[0] / "report.md").read_text()
    assert "On conventional hardware: multiplications per inference" in text


def test_the_index_pairs_the_baselines_rows_with_the_first_models_width(cmp, tmp_path):
    """A later model of another width or data (the GSC model) has its own GRU ratio; the GRU and
    LSTM rows stay the baselines stage's (trained at the first model's width, on its data)."""
    import copy

    first = json.loads(json.dumps(cmp.to_dict(), default=str))
    other = copy.deepcopy(first)
    other["multiplications"]["gru"]["multiplications"] = 7.0e9
    entries = [{"name": n, "report": tmp_path / f"{n}.md", "summary": s, "accuracy": {}}
               for n, s in (("gpn", first), ("gsc", other))]
    for e in entries:
        e["report"].write_text("x")
    text = write_index(tmp_path / "index", entries).read_text()
    gru_row = next(line for line in text.splitlines() if line.startswith("| GRU | same width, dense |"))
    assert fmt_num(first["multiplications"]["gru"]["multiplications"]) in gru_row and fmt_num(7.0e9) not in gru_row
