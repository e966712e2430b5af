"""Tests for cairn.exceptions and the package's public names."""

from __future__ import annotations

import inspect

import pytest

import cairn
from cairn import exceptions


def _exception_classes() -> list[type[BaseException]]:
    return [
        value
        for _, value in inspect.getmembers(exceptions, inspect.isclass)
        if issubclass(value, BaseException) and value.__module__ == exceptions.__name__
    ]


def test_module_defines_the_expected_classes() -> None:
    names = {cls.__name__ for cls in _exception_classes()}
    assert {
        "CairnError",
        "SpecError",
        "DataError",
        "SchemaMismatchError",
        "TrainingError",
        "BundleError",
        "RegistryError",
        "ServingError",
    } <= names


@pytest.mark.parametrize("cls", _exception_classes(), ids=lambda cls: cls.__name__)
def test_every_exception_derives_from_cairn_error(cls: type[BaseException]) -> None:
    assert issubclass(cls, exceptions.CairnError)
    with pytest.raises(exceptions.CairnError, match="boom"):
        raise cls("boom")


@pytest.mark.parametrize("cls", _exception_classes(), ids=lambda cls: cls.__name__)
def test_docstring_tree_names_every_class(cls: type[BaseException]) -> None:
    doc = exceptions.__doc__ or ""
    tree = doc.split("::", 1)[-1]
    assert cls.__name__ in tree.split(), f"{cls.__name__} missing from the docstring tree"


def test_docstring_tree_nesting_matches_inheritance() -> None:
    """A class drawn under another in the tree is a subclass of it."""
    doc = exceptions.__doc__ or ""
    tree = [line for line in doc.split("::", 1)[-1].splitlines() if line.strip()]
    stack: list[tuple[int, str]] = []
    for line in tree:
        name = line.replace("│", " ").replace("├──", "   ").replace("└──", "   ").split()[0]
        depth = len(line) - len(line.lstrip(" │├└─"))
        while stack and stack[-1][0] >= depth:
            stack.pop()
        cls = getattr(exceptions, name)
        if stack:
            parent = getattr(exceptions, stack[-1][1])
            assert issubclass(cls, parent), f"{name} is drawn under {parent.__name__}"
            assert parent in cls.__bases__, f"{name} should derive directly from {parent.__name__}"
        stack.append((depth, name))


def test_builtin_bases_let_callers_catch_familiar_types() -> None:
    assert issubclass(exceptions.SpecError, ValueError)
    assert issubclass(exceptions.DataError, ValueError)
    assert issubclass(exceptions.SchemaMismatchError, exceptions.DataError)
    assert issubclass(exceptions.TrainingError, RuntimeError)
    assert issubclass(exceptions.BundleError, OSError)


def test_all_is_sorted_and_unique() -> None:
    assert list(cairn.__all__) == sorted(cairn.__all__)
    assert len(set(cairn.__all__)) == len(cairn.__all__)


def test_all_names_every_exception() -> None:
    for cls in _exception_classes():
        assert cls.__name__ in cairn.__all__
        assert getattr(cairn, cls.__name__) is cls


@pytest.mark.parametrize("name", cairn.__all__)
def test_every_public_name_is_importable(name: str) -> None:
    assert getattr(cairn, name) is not None


def test_all_is_complete() -> None:
    """Every public attribute of the package (lazy ones included) is in __all__."""
    lazy = set(cairn._LAZY)
    assert lazy <= set(cairn.__all__)
    public = {
        name
        for name, value in vars(cairn).items()
        if not name.startswith("_")
        and not inspect.ismodule(value)
        and name != "annotations"
        and name not in {"import_module", "TYPE_CHECKING", "Any"}
    }
    assert public <= set(cairn.__all__)
    assert sorted(cairn.__all__) == dir(cairn)


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = cairn.no_such_name  # type: ignore[attr-defined]
