"""Every package states its public names in a sorted, complete ``__all__``, and
every name listed there resolves, so that users import from packages and later
module splits do not break them."""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "cairn"
PACKAGES = sorted(
    ".".join(("cairn", *init.parent.relative_to(SOURCE).parts))
    for init in SOURCE.rglob("__init__.py")
)


def _isort_style(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps: CONSTANTS, then Classes, then the rest."""
    bare = name.strip("_")
    if bare.isupper() and len(bare) > 1:
        return (0, name)
    if bare[:1].isupper():
        return (1, name)
    return (2, name)


def _exports(package: str, tree: ast.Module) -> set[str]:
    """What an ``__init__`` offers: public functions and classes it defines,
    names mapped lazily, and names it imports from its own submodules only to
    re-export them (not used in its own code)."""
    names: set[str] = set()
    imported: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(package + "."):
            imported.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Dict)
            and _assigns(node, "_LAZY")
        ):
            names.update(k.value for k in node.value.keys if isinstance(k, ast.Constant))
    imports = (ast.Import, ast.ImportFrom)
    used = {
        n.id
        for top in tree.body
        if not isinstance(top, imports)
        and not (isinstance(top, ast.Assign) and _assigns(top, "__all__"))
        for n in ast.walk(top)
        if isinstance(n, ast.Name)
    }
    names.update(imported - used)
    return {name for name in names if not name.startswith("_")}


def _assigns(node: ast.Assign, name: str) -> bool:
    return any(isinstance(t, ast.Name) and t.id == name for t in node.targets)


@pytest.mark.parametrize("package", PACKAGES)
def test_package_all_is_sorted_complete_and_resolves(package: str) -> None:
    module = importlib.import_module(package)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{package} has no __all__"
    assert list(exported) == sorted(exported, key=_isort_style), f"{package}.__all__ is not sorted"
    assert len(set(exported)) == len(exported), f"{package}.__all__ repeats a name"
    init = Path(module.__file__ or "")
    bound = _exports(package, ast.parse(init.read_text(encoding="utf-8")))
    missing = sorted(bound - set(exported))
    assert not missing, f"{package} binds public names missing from __all__: {missing}"
    for name in exported:
        resolves = getattr(module, name, None) is not None or (
            importlib.util.find_spec(f"{package}.{name}") is not None  # a submodule
        )
        assert resolves, f"{package}.{name} does not resolve"


def test_every_package_is_checked() -> None:
    assert {"cairn", "cairn.data", "cairn.eda", "cairn.evaluation", "cairn.models"} <= set(PACKAGES)
