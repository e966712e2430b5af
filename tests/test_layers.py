"""The shape of the code: no stage reaches into another's private modules, no
import cycles between modules, and importing serving loads no training library.
(The one-way layers themselves are import-linter contracts in pyproject.toml,
run by ``make test``.)"""

from __future__ import annotations

import subprocess
import sys

import grimp
import pytest

TRAINING = ("sklearn", "lightgbm", "catboost", "optuna", "mlflow", "xgboost", "skl2onnx", "ray")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("cairn", exclude_type_checking_imports=True)


def _owner(module: str) -> str:
    """The package a private module belongs to (``cairn.eda._stats`` -> ``cairn.eda``)."""
    parts = module.split(".")
    first_private = next(i for i, part in enumerate(parts) if part.startswith("_"))
    return ".".join(parts[:first_private])


def test_no_module_imports_another_package_private_module(graph: grimp.ImportGraph) -> None:
    offences = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            private = any(p.startswith("_") for p in imported.split(".")[1:])
            if not private or imported.split(".")[-1] in {"__init__", "__main__"}:
                continue
            owner = _owner(imported)
            if owner == "cairn":  # cairn._io, cairn._lazy, cairn._version: shared leaves
                continue
            if not (module == owner or module.startswith(owner + ".")):
                offences.append(f"{module} -> {imported}")
    assert not offences, "imports of another package's private module:\n" + "\n".join(offences)


def test_no_import_cycles(graph: grimp.ImportGraph) -> None:
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back is not None:
                cycles.append(" -> ".join((module, *back)))
    assert not cycles, "import cycles:\n" + "\n".join(sorted(set(cycles))[:20])


def test_importing_serving_loads_no_training_library() -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import cairn.serving.app, cairn.serving"],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    heavy = sorted(m for m in loaded if m.split(".")[0] in TRAINING)
    assert not heavy, f"importing cairn.serving loads {heavy}"
    assert "cairn.serving.app" in loaded
