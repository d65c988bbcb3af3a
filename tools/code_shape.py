"""Measure the shape of src/spikedeploy: import layering, circles, function lengths, local imports.

    python tools/code_shape.py [--json] [--floors]

Reads the source with ``ast`` only (nothing is imported). Reports:

- import circles between the package's modules (strongly connected components of the
  module import graph; imports inside functions count, since they still tie the modules);
- imports that run up a floor: a module importing one on a higher floor (``FLOORS``
  below: the package's layering, lowest first);
- functions (and methods) longer than ``--max-lines`` (100), measured from the ``def``
  line to the last line of the body;
- function-local imports of the package's own modules, with the comment on the import's
  line or the line above (a lazy import must say why).

Exit status 1 when a limit of issue 9 is exceeded (a circle, an upward import, a function
over the limit, more than ``--max-local-imports`` local imports), 0 otherwise.
"""
from __future__ import annotations

import argparse
import ast
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = "spikedeploy"
SRC = Path(__file__).resolve().parents[1] / "src" / PACKAGE

# The floors, lowest first. A module's floor is the first prefix that matches it
# (the longest prefix wins); a module may import from its own floor or any floor below.
FLOORS: list[tuple[str, list[str]]] = [
    ("base", ["errors", "atomic", "paths", "config", "hardware", "hashing", "memory", "processes", "netspec",
              "delays"]),
    ("data", ["data"]),
    ("models", ["models"]),
    ("foreign", ["foreign"]),
    ("training", ["training"]),
    ("quant", ["quant"]),
    ("fold", ["fold"]),
    ("nir_io", ["nir_io"]),
    ("metrics", ["metrics"]),
    ("lava_backend", ["lava_backend"]),
    ("stages", ["stages", "pipeline"]),
    ("api", ["api"]),
    ("cli", ["cli"]),
    ("entry", ["_entry", "__main__"]),
]


def floor_of(module: str) -> tuple[int, str]:
    rel = module[len(PACKAGE) + 1:] if module.startswith(PACKAGE + ".") else ""
    best: tuple[int, int, str] | None = None
    for level, (name, prefixes) in enumerate(FLOORS):
        for p in prefixes:
            if rel == p or rel.startswith(p + "."):
                if best is None or len(p) > best[1]:
                    best = (level, len(p), name)
    if best is None:
        return (-1, "package")  # the package root (__init__) sits outside the floors
    return (best[0], best[2])


@dataclass
class Imp:
    src: str
    dst: str
    line: int
    local: bool
    comment: str = ""


@dataclass
class Func:
    module: str
    name: str
    line: int
    length: int


@dataclass
class Shape:
    modules: list[str] = field(default_factory=list)
    imports: list[Imp] = field(default_factory=list)
    funcs: list[Func] = field(default_factory=list)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def resolve(mod: str, is_pkg: bool, node: ast.ImportFrom | ast.Import, known: set[str]) -> list[str]:
    """The package modules an import statement names (submodules where they exist)."""
    out = []
    if isinstance(node, ast.Import):
        for a in node.names:
            if a.name == PACKAGE or a.name.startswith(PACKAGE + "."):
                out.append(a.name)
        return out
    if node.level:
        base = mod.split(".") if is_pkg else mod.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if not (target == PACKAGE or target.startswith(PACKAGE + ".")):
        return out
    for a in node.names:
        sub = f"{target}.{a.name}"
        out.append(sub if sub in known else target)
    return out


def comment_near(lines: list[str], lineno: int) -> str:
    """The comment on an import's line, or on the comment line above the block of imports it
    belongs to (one comment may explain a group of lazy imports)."""
    here = lines[lineno - 1]
    if "#" in here:
        return here.split("#", 1)[1].strip()
    i = lineno - 2
    while i >= 0 and lines[i].strip().startswith(("from ", "import ")):
        if "#" in lines[i]:
            return lines[i].split("#", 1)[1].strip()
        i -= 1
    above = lines[i].strip() if i >= 0 else ""
    return above[1:].strip() if above.startswith("#") else ""


@dataclass(frozen=True)
class _Source:
    mod: str
    is_pkg: bool
    lines: list[str]
    known: set[str]


def _visit(shape: Shape, src: _Source, node: ast.AST, in_func: bool) -> None:
    """Record the functions and the project imports below ``node`` of one source file."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = child.end_lineno - child.lineno + 1
            shape.funcs.append(Func(src.mod, child.name, child.lineno, length))
            _visit(shape, src, child, True)
        elif isinstance(child, (ast.Import, ast.ImportFrom)):
            for dst in resolve(src.mod, src.is_pkg, child, src.known):
                shape.imports.append(Imp(src.mod, dst, child.lineno, in_func,
                                         comment_near(src.lines, child.lineno) if in_func else ""))
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            continue  # imports for type checkers only do not run
        else:
            _visit(shape, src, child, in_func)


def scan() -> Shape:
    shape = Shape()
    files = sorted(SRC.rglob("*.py"))
    known = {module_name(f) for f in files}
    shape.modules = sorted(known)
    for f in files:
        text = f.read_text()
        src = _Source(module_name(f), f.name == "__init__.py", text.splitlines(), known)
        _visit(shape, src, ast.parse(text), False)
    return shape


def _is_type_checking(test: ast.AST) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def circles(shape: Shape) -> list[list[str]]:
    graph: dict[str, set[str]] = {m: set() for m in shape.modules}
    for i in shape.imports:
        if i.dst in graph and i.dst != i.src and not _is_parent(i.dst, i.src):
            graph[i.src].add(i.dst)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            strong(v)
    return out


def _is_parent(pkg: str, mod: str) -> bool:
    # `from . import x` inside a package resolves to the package's __init__ when x is not
    # a submodule; importing one's own package's __init__ is not an edge we judge.
    return mod.startswith(pkg + ".")


def upward(shape: Shape) -> list[Imp]:
    out = []
    for i in shape.imports:
        (ls, _), (ld, _) = floor_of(i.src), floor_of(i.dst)
        if ls >= 0 and ld > ls:
            out.append(i)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-lines", type=int, default=100)
    ap.add_argument("--max-local-imports", type=int, default=20)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    ap.add_argument("--list", action="store_true", help="list every local import and long function")
    a = ap.parse_args(argv)
    shape = scan()
    circ = circles(shape)
    up = upward(shape)
    long_funcs = sorted((f for f in shape.funcs if f.length > a.max_lines), key=lambda f: -f.length)
    # one per import statement (``from x import a, b`` is one import)
    local = list({(i.src, i.line): i for i in shape.imports if i.local}.values())
    local_uncommented = [i for i in local if not i.comment]
    figures = {
        "modules": len(shape.modules),
        "functions": len(shape.funcs),
        "import_circles": circ,
        "upward_imports": [f"{i.src} -> {i.dst} (line {i.line})" for i in up],
        "functions_over_limit": [f"{f.module}.{f.name} {f.length}" for f in long_funcs],
        "longest_function": max((f.length for f in shape.funcs), default=0),
        "local_imports": len(local),
        "local_imports_uncommented": len(local_uncommented),
    }
    if a.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"modules {figures['modules']}, functions {figures['functions']}")
        print(f"import circles: {len(circ)}")
        for c in circ:
            print("   ", " <-> ".join(c))
        print(f"upward imports: {len(up)}")
        for s in figures["upward_imports"]:
            print("   ", s)
        print(f"functions over {a.max_lines} lines: {len(long_funcs)} (longest {figures['longest_function']})")
        for s in figures["functions_over_limit"]:
            print("   ", s)
        print(f"function-local imports of the package: {len(local)} ({len(local_uncommented)} without a comment)")
        if a.list:
            for i in local:
                print(f"    {i.src}:{i.line} -> {i.dst}  # {i.comment}")
    bad = circ or up or long_funcs or len(local) > a.max_local_imports or local_uncommented
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
