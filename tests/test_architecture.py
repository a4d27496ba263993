"""The package's shape, checked: stages import one way, no import cycles, the CLI stays on top.

Read from the source (every import statement, those inside functions too), so a lazy import
that breaks the order is caught like a top-level one.
"""
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "src" / "pipnet106"
ORDER = ["", "shape", "synth", "data", "models", "detect", "infer", "retouch", "train", "deploy", "teacher", "cli"]
"""Stages from the bottom up ('' = the small shared modules at the top of the package). A module may
import from its own stage or from one listed before it, never after."""


def _modules() -> dict[str, Path]:
    mods = {}
    for p in PKG.rglob("*.py"):
        parts = list(p.relative_to(PKG).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    return mods


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of the package that `name` imports (relative imports resolved; `from x import sub`
    counts the submodule)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    package = [p for p in package if p]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and (node.module == "pipnet106" or node.module.startswith("pipnet106.")):
                target = node.module[len("pipnet106"):].lstrip(".")
            else:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}".strip(".")
                found.add(sub if sub in known else target)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("pipnet106."):
                    found.add(alias.name[len("pipnet106."):])
    return {m for m in found if m in known and m != name}


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {name: _imports(name, path, known) for name, path in mods.items() if name not in ("__main__",)}


def _stage(module: str) -> str:
    head = module.split(".")[0]
    return head if head in ORDER[1:] else ""


def test_every_module_belongs_to_a_stage():
    for name in _modules():
        if "." in name:
            assert name.split(".")[0] in ORDER, f"pipnet106.{name}: folder not in ORDER"


def test_stages_import_one_way():
    wrong = []
    for name, deps in _graph().items():
        if name == "":  # the package's __init__ names its public classes lazily (strings, not imports)
            continue
        for dep in deps:
            if ORDER.index(_stage(dep)) > ORDER.index(_stage(name)):
                wrong.append(f"pipnet106.{name} ({_stage(name) or 'top'}) imports pipnet106.{dep} ({_stage(dep)})")
    assert not wrong, "\n".join(sorted(wrong))


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycles.append(" -> ".join(path[path.index(dep):] + [dep]) if dep in path else f"{node} -> {dep}")
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "\n".join(cycles)


def test_only_the_cli_parses_arguments():
    offenders = []
    for name, path in _modules().items():
        if name.split(".")[0] == "cli":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import) and any(a.name == "argparse" for a in node.names):
                offenders.append(name)
            elif isinstance(node, ast.FunctionDef) and node.name == "register" and node.col_offset == 0:
                offenders.append(f"{name}.register")
    assert not offenders, f"argparse / command code outside cli/: {sorted(set(offenders))}"


def test_nothing_imports_the_cli():
    users = [n for n, deps in _graph().items() if n.split(".")[0] != "cli" and any(d.split(".")[0] == "cli" for d in deps)]
    assert not users, users
