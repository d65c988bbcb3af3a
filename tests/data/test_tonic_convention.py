"""The "tonic" binning convention against tonic's own SHD reader (tonic 1.7, in the dev extra):
``tonic.datasets.hsd.HSD.__getitem__`` (times as integer microseconds) + ``ToFrame``."""

from __future__ import annotations

import numpy as np
import pytest

from spikedeploy.data.shd import BinningConfig, ShdDataset
from spikedeploy.data.shd_format import write_shd
from spikedeploy.errors import ConfigError

tonic = pytest.importorskip("tonic", reason="tonic is not installed (the dev extra installs it)")


def _tonic_frames(path, n: int, steps: int, duration: float) -> np.ndarray:
    from tonic.datasets.hsd import HSD
    from tonic.transforms import ToFrame

    window = round(duration * 1e6 / steps)
    ds = HSD.__new__(HSD)                      # tonic's reader on our file, without its download step
    ds.location_on_system, ds.data_filename = str(path.parent), path.name
    ds.transform = ToFrame(sensor_size=HSD.sensor_size, time_window=window, start_time=0,
                           end_time=round(duration * 1e6))
    ds.target_transform = None
    return np.stack([ds[i][0].reshape(steps, 700) for i in range(n)])


@pytest.fixture(scope="module")
def edge_file(tmp_path_factory):
    """Samples with spikes on, and one float32 step beside, every 25 ms frame edge."""
    rng = np.random.default_rng(3)
    edges = np.arange(0, 1.0, 0.025)
    times, units = [], []
    for i in range(12):
        near = np.concatenate([edges, np.nextafter(edges.astype(np.float32), np.float32(2)),
                               np.nextafter(edges.astype(np.float32), np.float32(-1))])
        t = np.sort(np.concatenate([near[near >= 0], rng.random(200)]).astype(np.float32))
        times.append(t)
        units.append(rng.integers(0, 700, t.size))
    path = tmp_path_factory.mktemp("tonic") / "edges.h5"
    write_shd(path, times, units, [i % 2 for i in range(12)], [0] * 12, keys=("a", "b"))
    return path


def test_tonic_convention_bins_as_tonics_own_reader(edge_file):
    ours = ShdDataset(edge_file, BinningConfig(n_steps=40, convention="tonic"), progress=False).tensors()[0].numpy()
    theirs = _tonic_frames(edge_file, 12, 40, 1.0)
    assert np.array_equal(ours, theirs)
    default = ShdDataset(edge_file, BinningConfig(n_steps=40), progress=False).tensors()[0].numpy()
    assert not np.array_equal(default, theirs), "the edge spikes must tell the two conventions apart"


def test_a_frame_that_is_not_whole_microseconds_is_refused():
    with pytest.raises(ConfigError, match="whole number of microseconds"):
        BinningConfig(n_steps=3, duration=1.0, convention="tonic")
