"""The package's layering, measured on its source by tools/code_shape.py (issue 9's limits):
no import circle, no import from a lower floor to a higher one, no function over 100 lines,
at most 20 function-local imports of the package's own modules, each with a comment saying why."""

import importlib.util
import sys
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "code_shape.py"


@pytest.fixture(scope="module")
def shape():
    spec = importlib.util.spec_from_file_location("code_shape", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules["code_shape"] = module          # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("code_shape", None)


@pytest.fixture(scope="module")
def scanned(shape):
    return shape.scan()


def test_every_module_has_a_floor(shape, scanned):
    floorless = [m for m in scanned.modules if m != "spikedeploy" and shape.floor_of(m)[0] < 0]
    assert floorless == []


def test_no_import_circle(shape, scanned):
    assert shape.circles(scanned) == []


def test_no_import_runs_up_a_floor(shape, scanned):
    assert [f"{i.src} -> {i.dst}" for i in shape.upward(scanned)] == []


def test_no_function_is_longer_than_a_screen(scanned):
    assert [f"{f.module}.{f.name} ({f.length})" for f in scanned.funcs if f.length > 100] == []


def test_local_imports_are_few_and_say_why(scanned):
    local = list({(i.src, i.line): i for i in scanned.imports if i.local}.values())
    assert len(local) <= 20
    assert [f"{i.src}:{i.line}" for i in local if not i.comment] == []


def test_the_checks_can_fail(shape, tmp_path, monkeypatch):
    """The measurement itself: a circle, an upward import and a long function in a scratch package."""
    pkg = tmp_path / "src" / "spikedeploy"
    (pkg / "data").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "data" / "__init__.py").write_text("")
    (pkg / "errors.py").write_text("from .data import a\n")                        # base -> data: upward
    (pkg / "paths.py").write_text("")
    (pkg / "data" / "a.py").write_text("from . import b\n")
    (pkg / "data" / "b.py").write_text("from . import a\n\n\ndef f():\n" + "    x = 1\n" * 120
                                       + "    from ..paths import P\n")
    monkeypatch.setattr(shape, "SRC", pkg)
    s = shape.scan()
    assert shape.circles(s) == [["spikedeploy.data.a", "spikedeploy.data.b"]]
    assert [(i.src, i.dst) for i in shape.upward(s)] == [("spikedeploy.errors", "spikedeploy.data.a")]
    assert [(f.name, f.length) for f in s.funcs] == [("f", 122)]
    assert [(i.src, i.local, i.comment) for i in s.imports if i.local] == [("spikedeploy.data.b", True, "")]
