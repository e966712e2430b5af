"""Exploratory data analysis.

* :mod:`cairn.eda.profile` — :func:`~cairn.eda.profile.profile`: fast
  statistics over every row of a table.
* :mod:`cairn.eda.report` — :func:`~cairn.eda.report.write_profile_report`:
  the profile as a self-contained HTML page.

The function ``profile`` is not re-exported here, so that
``cairn.eda.profile`` always names the module; ``__all__`` lists the two
modules, which load on first use.
"""

from importlib import import_module as _import_module
from types import ModuleType as _ModuleType

__all__ = ["profile", "report"]


def __getattr__(name: str) -> _ModuleType:
    if name in __all__:
        return _import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
