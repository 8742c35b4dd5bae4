"""Each stage depends on the code it runs: the modules its stage module imports, lazily too (the import
closure, read from the source), are all within the files and folders its DVC stage and Snakemake rule list.
Also the layout's rules: a stage's module is named as its rule, no library module imports a stage."""

import ast
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from gpt1.cli import STAGES

DVC_STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def module_file(name: str) -> Path | None:
    path = ROOT / Path(*name.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def imported(path: Path, name: str) -> set[str]:
    """The gpt1 modules `path` (module `name`) imports anywhere in its source, inside functions too."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            found |= {base, *(f"{base}.{alias.name}" for alias in node.names)}
    return {module for module in found if module.split(".")[0] == "gpt1"}


def import_closure(name: str) -> set[Path]:
    """Every gpt1 source file that importing module `name` and calling its functions may load."""
    files: dict[str, Path] = {}
    todo = [name]
    while todo:
        module = todo.pop()
        path = module_file(module)
        if path is None or module in files:
            continue  # a name imported from a module, not a module
        files[module] = path
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts))]  # the packages' __init__.py run first
        todo += imported(path, module)
    return {path.relative_to(ROOT) for path in files.values()}


def declared_code(stage: dict) -> list[Path]:
    body = stage.get("do", stage)
    return [Path(dep) for dep in body["deps"] if str(dep).startswith("gpt1/")]


def covered(path: Path, declared: list[Path]) -> bool:
    return any(path == dep or dep in path.parents for dep in declared)


@pytest.mark.parametrize("command", STAGES)
def test_a_stage_declares_the_code_it_imports(command):
    stage = command.replace("-", "_")
    if stage == "import_openai_gpt":  # Snakemake only (dvc.yaml is the pretrained pipeline)
        pytest.skip("no DVC stage; its rule's code is compared with Snakemake's dry run below")
    variants = [name for name in DVC_STAGES if name == stage or name.startswith(f"{stage}_")]
    assert variants, f"no DVC stage {stage}"
    needed = import_closure(f"gpt1.stages.{stage}") - {Path("gpt1/__init__.py"), Path("gpt1/stages/__init__.py")}
    for name in variants:
        declared = declared_code(DVC_STAGES[name])
        missing = sorted(str(path) for path in needed if not covered(path, declared))
        assert not missing, f"dvc.yaml {name}: deps lack {missing}"
        own = Path(f"gpt1/stages/{stage}.py")
        assert own in declared, f"{name} does not depend on its own module {own}"


def test_the_released_weights_rule_declares_the_code_it_imports():
    from conftest import snakemake_jobs

    inputs = snakemake_jobs("--config", "profile=openai-gpt")["import_openai_gpt"]["inputs"]
    needed = import_closure("gpt1.stages.import_openai_gpt") - {
        Path("gpt1/__init__.py"),
        Path("gpt1/stages/__init__.py"),
    }
    assert {str(path) for path in needed} <= inputs


def test_the_closure_follows_lazy_imports():
    closure = import_closure("gpt1.stages.finetune")
    assert Path("gpt1/training/finetune.py") in closure  # imported inside run_task only
    assert Path("gpt1/tasks/metrics.py") in closure and Path("gpt1/report/tables.py") not in closure


def test_every_stage_has_its_module_and_no_library_module_imports_one():
    for command in STAGES:
        assert (ROOT / "gpt1" / "stages" / f"{command.replace('-', '_')}.py").is_file(), command
    for path in (ROOT / "gpt1").rglob("*.py"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if module.startswith("gpt1.stages") or module in ("gpt1.cli", "gpt1.__main__"):
            continue
        assert not any(m.startswith("gpt1.stages") for m in imported(path, module)), module


def test_modules_stay_small():
    sizes = {path.relative_to(ROOT): len(path.read_text().splitlines()) for path in (ROOT / "gpt1").rglob("*.py")}
    assert sizes[Path("gpt1/cli.py")] <= 120
    assert {str(path): n for path, n in sizes.items() if n > 400} == {}
