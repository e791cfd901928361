"""The shape of the package: no import loops, and the shared modules import no stage.

The graph is read from the source (every import statement, in functions and
`TYPE_CHECKING` blocks too): a loop is a loop even when it happens not to
run at import time.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "hitwatch"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports(path: Path, known: set[str]) -> set[str]:
    """The package's modules that `path` imports (`from a import b` names
    module `a.b` when there is one, else `a`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
    return {name for name in found if name in known}


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports(path, known) - {name} for name, path in mods.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_graph_is_read() -> None:
    edges = graph()
    assert "hitwatch.engine.core" in edges["hitwatch.pipeline"]
    assert "hitwatch.rules.rate_above" in edges["hitwatch.rules"]


def test_no_import_loops() -> None:
    assert cycles(graph()) == []


def test_a_loop_is_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        ("hitwatch.model", set()),
        ("hitwatch.render", {"hitwatch.model"}),
        ("hitwatch.config", {"hitwatch.model"}),
    ],
)
def test_shared_modules_import_no_stage(module: str, allowed: set[str]) -> None:
    assert graph()[module] <= allowed


def test_the_engine_and_rules_do_no_io() -> None:
    """The functional core: no sources, outputs, readers or shell in its imports."""
    edges = graph()
    core = [m for m in edges if m.startswith(("hitwatch.engine", "hitwatch.rules"))]
    shell = ("hitwatch.sources", "hitwatch.outputs", "hitwatch.readers", "hitwatch.native")
    for module in core:
        assert not any(dep.startswith(shell) for dep in edges[module]), module
        assert not edges[module] & {"hitwatch.cli", "hitwatch.live", "hitwatch.pipeline"}


def test_optional_heavy_parts_load_only_when_used(tmp_path: Path) -> None:
    """A run on a text log loads no JSON decoder, TOML reader or terminal UI:
    each costs megabytes of memory that such a run would keep for nothing."""
    log = tmp_path / "a.log"
    log.write_text('1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /a/b HTTP/1.0" 200 2326\n')
    probe = (
        "import runpy, sys\n"
        f"sys.argv = ['hitwatch', '--output', 'jsonl', {str(log)!r}]\n"
        "try:\n"
        "    runpy.run_module('hitwatch', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('msgspec', 'tomllib', 'rich')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stderr.splitlines()[-1] == "[]"
