"""The package's layers, read from the source with ast: no import circle, the data layer (gpt1.tasks) free of
the model and the training code, and MLflow (gpt1.tracking) reached from the stages only. An import counts
wherever it is, inside a function or under `if TYPE_CHECKING:` too: a circle there is one in the design."""

import ast
from pathlib import Path

from conftest import ROOT


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted((ROOT / "gpt1").rglob("*.py"))}


def imports(name: str) -> set[str]:
    """The gpt1 modules module `name` imports: `from gpt1.tasks import Example` imports gpt1.tasks, and
    `from gpt1 import tracking` both gpt1 and gpt1.tracking."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up level - 1
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            found.update({base, *(f"{base}.{alias.name}" for alias in node.names)})
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {module for module in found if module in MODULES and module != name}


GRAPH = {name: imports(name) for name in MODULES}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The graph's strongly connected components of more than one module (Tarjan's algorithm, without
    recursion), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_circle_finder_finds_circles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_the_import_reader_resolves_what_python_loads():
    assert {"gpt1", "gpt1.tracking"} <= GRAPH["gpt1.stages.summary"]  # from gpt1 import tracking, in run()
    assert "gpt1.tasks" in GRAPH["gpt1.training.zero_shot"]  # from gpt1.tasks import Example


def test_no_import_circle():
    assert circles(GRAPH) == []


def test_the_data_layer_needs_no_model_or_training_code():
    for name in MODULES:
        if name == "gpt1.tasks" or name.startswith("gpt1.tasks."):
            wrong = {m for m in GRAPH[name] if m == "gpt1.model" or m.split(".")[:2] == ["gpt1", "training"]}
            assert not wrong, f"{name} imports {sorted(wrong)}"


def test_only_the_stages_reach_mlflow():
    """Library code that logs metrics takes a tracker (its stage's MLflow run) as an argument."""
    reaching = {name for name, imported in GRAPH.items() if "gpt1.tracking" in imported}
    assert {name for name in reaching if not name.startswith("gpt1.stages.")} == set()
