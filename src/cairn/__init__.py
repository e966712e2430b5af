"""cairn: from a tabular problem statement to a monitored model in production.

Public API::

    result = cairn.run("cairn.toml")            # RunResult
    model = cairn.load_model("models:/churn@champion")
    model.predict(frame)
    cairn.test("models:/churn@champion")        # SuiteResult of the behaviour tests

Heavy modules load on first use, so ``import cairn`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cairn._lazy import lazy_exports as _lazy_exports
from cairn._version import __version__
from cairn.exceptions import (
    BundleError,
    CairnError,
    DataError,
    RegistryError,
    SchemaMismatchError,
    ServingError,
    SpecError,
    TrainingError,
)

__all__ = [
    "BundleError",
    "CairnError",
    "DataError",
    "Model",
    "ProjectSpec",
    "RegistryError",
    "RunResult",
    "SchemaMismatchError",
    "ServingError",
    "SpecError",
    "TrainingError",
    "__version__",
    "fit",
    "load_model",
    "load_spec",
    "run",
    "test",
]

_LAZY = {
    "run": "cairn.workflow",
    "fit": "cairn.workflow",
    "RunResult": "cairn.workflow",
    "load_model": "cairn.tracking",
    "Model": "cairn.bundle",
    "load_spec": "cairn.spec",
    "ProjectSpec": "cairn.spec",
    "test": "cairn.behaviour",
}

if TYPE_CHECKING:
    from cairn.behaviour import test
    from cairn.bundle import Model
    from cairn.spec import ProjectSpec, load_spec
    from cairn.tracking import load_model
    from cairn.workflow import RunResult, fit, run


__getattr__, __dir__ = _lazy_exports("cairn", _LAZY, __all__)
