"""Every package states its public names in a sorted, complete ``__all__``, and
every name listed there resolves, so that users import from packages and later
module splits do not break them."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "cairn"
PACKAGES = sorted(
    ".".join(("cairn", *init.parent.relative_to(SOURCE).parts))
    for init in SOURCE.rglob("__init__.py")
)


def _public_bindings(tree: ast.Module) -> set[str]:
    """Public names an ``__init__`` binds at top level or maps lazily."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names.add(target.id)
                    if target.id == "_LAZY" and isinstance(node.value, ast.Dict):
                        names.update(
                            key.value for key in node.value.keys if isinstance(key, ast.Constant)
                        )
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {name for name in names if not name.startswith("_") and name != "TYPE_CHECKING"}


def _ruff_order(name: str) -> tuple[int, str]:
    """The order ruff's ``__all__`` sort (RUF022) keeps: constants, then
    classes, then everything else, each alphabetically."""
    if name.isupper() and len(name) > 1:
        return 0, name
    return (1 if name[:1].isupper() else 2), name


@pytest.mark.parametrize("package", PACKAGES)
def test_package_all_is_sorted_complete_and_resolves(package: str) -> None:
    module = importlib.import_module(package)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{package} has no __all__"
    assert list(exported) == sorted(exported, key=_ruff_order), f"{package}.__all__ is not sorted"
    assert len(set(exported)) == len(exported), f"{package}.__all__ repeats a name"
    init = Path(module.__file__ or "")
    bound = _public_bindings(ast.parse(init.read_text(encoding="utf-8")))
    missing = sorted(bound - set(exported))
    assert not missing, f"{package} binds public names missing from __all__: {missing}"
    for name in exported:
        assert getattr(module, name, None) is not None, f"{package}.{name} does not resolve"


def test_every_package_is_checked() -> None:
    assert {"cairn", "cairn.data", "cairn.eda", "cairn.evaluation", "cairn.models"} <= set(PACKAGES)
