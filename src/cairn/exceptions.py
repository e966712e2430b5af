"""Exceptions raised by cairn.

Every error cairn raises on purpose derives from :class:`CairnError`, so a
caller can catch one class. Each message says what was wrong, where (file,
column, row or key) and what to do about it.

::

    CairnError
    ├── SpecError            cairn.toml is missing, malformed or inconsistent
    ├── DataError            data cannot be read, or cannot be trained on
    │   └── SchemaMismatchError  scoring data does not match the model's schema
    ├── TrainingError        no candidate could be trained
    ├── BundleError          a model bundle is missing, tampered with or unreadable
    ├── RegistryError        tracking store or model registry failure
    └── ServingError         the model server cannot start or answer
"""

from __future__ import annotations


class CairnError(Exception):
    """Root of every error cairn raises on purpose."""


class SpecError(CairnError, ValueError):
    """The project spec is missing, malformed or inconsistent."""


class DataError(CairnError, ValueError):
    """Data cannot be read, or cannot be used for the task."""


class SchemaMismatchError(DataError):
    """Data given to a model does not match the schema it was trained on."""


class TrainingError(CairnError, RuntimeError):
    """No candidate model could be trained."""


class BundleError(CairnError, OSError):
    """A model bundle is missing, tampered with or unreadable."""


class RegistryError(CairnError, RuntimeError):
    """The tracking store or the model registry failed."""


class ServingError(CairnError, RuntimeError):
    """The model server cannot start or answer."""
