import pytest

from spikedeploy.atomic import atomic_path
from spikedeploy.errors import SpikedeployError


def test_success_renames_into_place(tmp_path):
    target = tmp_path / "out.bin"
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"abc")
        assert not target.exists()
    assert target.read_bytes() == b"abc"
    assert list(tmp_path.iterdir()) == [target]


def test_result_gets_ordinary_permissions(tmp_path):
    import os

    target = tmp_path / "out.bin"
    umask = os.umask(0o022)
    try:
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"abc")
    finally:
        os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o644


def test_failure_leaves_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [target]


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(SpikedeployError, match="does not exist") as err:
        with atomic_path(tmp_path / "nope" / "out.bin"):
            pass
    assert str(tmp_path / "nope") in str(err.value)
