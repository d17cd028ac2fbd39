"""Import directions (docs/architecture.md): the import-linter contracts in pyproject.toml,
and the policy engine importing nothing of the project, not even the rest of governance."""

import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("airlock", "api", "webqueue", "adminui", "integrations", "approvals", "governance", "shared", "bench")
ENGINE = "governance.policy"


def engine_foreign_imports(graph: grimp.ImportGraph) -> list[tuple[str, str]]:
    """(importer, imported) pairs where the engine imports project code outside itself."""
    found = []
    for module in sorted(graph.find_descendants(ENGINE) | {ENGINE}):
        for imported in graph.find_modules_directly_imported_by(module):
            inside = imported == ENGINE or imported.startswith(f"{ENGINE}.")
            if imported.split(".")[0] in PROJECT and not inside:
                found.append((module, imported))
    return found


def test_import_linter_contracts_are_kept():
    linter = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(linter), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout and "0 broken" in result.stdout


def test_the_engine_imports_nothing_of_the_project():
    graph = grimp.build_graph(*PROJECT, include_external_packages=True, cache_dir=None)
    assert engine_foreign_imports(graph) == []


def test_the_engine_check_catches_an_import_of_the_rest_of_governance():
    graph = grimp.ImportGraph()
    for module in (ENGINE, f"{ENGINE}.engine", f"{ENGINE}.types", "governance.models"):
        graph.add_module(module)
    graph.add_import(importer=f"{ENGINE}.engine", imported=f"{ENGINE}.types")
    graph.add_import(importer=f"{ENGINE}.engine", imported="governance.models")
    assert engine_foreign_imports(graph) == [(f"{ENGINE}.engine", "governance.models")]
