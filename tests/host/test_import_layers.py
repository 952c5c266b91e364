"""The host side imports downward only: model → rules → board and link → replay and live
→ report and CLI (docs/architecture.md), with no circle between modules. Read with ast
from the source, every import counted, those inside functions too (a function-level
import hid the flash ↔ supervise circle)."""

from __future__ import annotations

import ast
from pathlib import Path

from mule_testing import REPO

HOST_TOOLS = REPO / "host_tools"

# (layer, module prefixes); a module belongs to the layer of its longest matching prefix
LAYERS = (
    ("model", ("host_tools", "host_tools.text", "host_tools.tools", "host_tools.collector", "host_tools.dbc",
               "host_tools.dbc_conventions", "host_tools.codegen", "host_tools.engines", "host_tools.logfile",
               "host_tools.verify", "host_tools.board_codes", "host_tools.e2e",
               "host_tools.sample_frames", "host_tools.fast_read", "host_tools.mp_bench", "host_tools.mp",
               "host_tools.link.wire", "host_tools.link.messages")),  # the protocol's messages are data
    ("rules", ("host_tools.supervision", "host_tools.simulate")),
    ("board and link", ("host_tools.link", "host_tools.telemetry", "host_tools.board_alerts", "host_tools.flash",
                        "host_tools.vboard", "host_tools.qemu_board", "host_tools.supervise_bench")),
    # what runs a whole log or a session through engines and boards: mule replay, monitor, decode
    ("replay and live", ("host_tools.replay", "host_tools.monitor", "host_tools.decode", "host_tools.parquet_out",
                         "host_tools.distributed")),
    ("report and CLI", ("host_tools.report", "host_tools.cli")),
)
# siblings in one layer that must not lean on each other
APART = (("host_tools.monitor", "host_tools.replay"), ("host_tools.replay", "host_tools.monitor"))


def modules(root: Path = HOST_TOOLS) -> dict[str, Path]:
    out = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the host_tools modules it imports anywhere in its source."""

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in mods.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                found |= {resolve(a.name) for a in node.names if a.name.split(".")[0] == "host_tools"}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                    and node.module.split(".")[0] == "host_tools":
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    found.add(full if full in mods else resolve(node.module))
        found.discard(None)
        found.discard(name)
        graph[name] = found
    return graph


def layer_of(module: str) -> int | None:
    best, rank = -1, None
    for k, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), k
    return rank


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def upward(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for a, targets in sorted(graph.items()):
        for b in sorted(targets):
            if layer_of(b) > layer_of(a):
                found.append(f"{a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]})")
            if any(a.startswith(x) and b.startswith(y) for x, y in APART):
                found.append(f"{a} imports its sibling {b}")
    return found


def test_every_module_has_a_layer():
    assert [name for name in modules() if layer_of(name) is None] == []


def test_no_import_circle():
    assert cycles(imports(modules())) == []


def test_layers_import_downward_only():
    assert upward(imports(modules())) == []


def test_the_checks_see_a_circle_and_an_upward_import_inside_a_function(tmp_path):
    root = tmp_path / "host_tools"
    (root / "replay").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "dbc.py").write_text("def f():\n    from host_tools.replay.run import g\n")
    (root / "replay" / "__init__.py").write_text("")
    (root / "replay" / "run.py").write_text("from host_tools import dbc\n")
    graph = imports(modules(root))
    assert cycles(graph) == [["host_tools.dbc", "host_tools.replay.run"]]
    assert upward(graph) == ["host_tools.dbc (model) imports host_tools.replay.run (replay and live)"]
