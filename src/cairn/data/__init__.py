"""Data: reading sources, the schema, quality checks and repairs, splitting.

* :mod:`cairn.data.sources` — files, URLs and SQL read into one frame.
* :mod:`cairn.data.values` — how single values are read (missing-value
  sentinels, category strings, numbers and dates stored as text).
* :mod:`cairn.data.schema` — column roles and the schema stored with a model.
* :mod:`cairn.data.repair` — type repairs, decided once per distinct value.
* :mod:`cairn.data.findings` — :class:`Finding` and :class:`QualityReport`.
* :mod:`cairn.data.quality` — :func:`check_and_clean`, the checks before training.
* :mod:`cairn.data.split` — the test hold-out and the CV folds.

Names load on first use, so importing one submodule (the server reads
schemas) does not load the others (splitting needs scikit-learn). The
function ``split`` is not re-exported here, so that ``cairn.data.split``
always names the module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cairn._lazy import lazy_exports as _lazy_exports

__all__ = [
    "DROPPED_ROLES",
    "MISSING_SENTINELS",
    "CleanResult",
    "ColumnSchema",
    "Factorized",
    "Finding",
    "Fold",
    "QualityReport",
    "Role",
    "Schema",
    "SplitResult",
    "after_search_findings",
    "as_strings",
    "auto_repeats",
    "category_string",
    "check_and_clean",
    "class_labels",
    "clean_unlabelled",
    "coerce_column",
    "collect",
    "conform",
    "factorize",
    "infer_schema",
    "infer_task",
    "make_folds",
    "normalize_missing",
    "read_source",
    "read_table",
    "repair_column",
    "repair_frame",
    "repair_types",
    "unseen_categories",
]

_LAZY = {
    "after_search_findings": "cairn.data._leakage",
    "CleanResult": "cairn.data.quality",
    "ColumnSchema": "cairn.data.schema",
    "DROPPED_ROLES": "cairn.data.schema",
    "Factorized": "cairn.data.repair",
    "Finding": "cairn.data.findings",
    "Fold": "cairn.data.split",
    "MISSING_SENTINELS": "cairn.data.values",
    "QualityReport": "cairn.data.findings",
    "Role": "cairn.data.schema",
    "Schema": "cairn.data.schema",
    "SplitResult": "cairn.data.split",
    "as_strings": "cairn.data.values",
    "auto_repeats": "cairn.data.split",
    "category_string": "cairn.data.values",
    "check_and_clean": "cairn.data.quality",
    "class_labels": "cairn.data.values",
    "clean_unlabelled": "cairn.data.quality",
    "coerce_column": "cairn.data.schema",
    "collect": "cairn.data.sources",
    "conform": "cairn.data.schema",
    "factorize": "cairn.data.repair",
    "infer_schema": "cairn.data.schema",
    "infer_task": "cairn.data.values",
    "make_folds": "cairn.data.split",
    "normalize_missing": "cairn.data.values",
    "read_source": "cairn.data.sources",
    "read_table": "cairn.data.sources",
    "repair_column": "cairn.data.repair",
    "repair_frame": "cairn.data.repair",
    "repair_types": "cairn.data.quality",
    "unseen_categories": "cairn.data.schema",
}

if TYPE_CHECKING:
    from cairn.data._leakage import after_search_findings
    from cairn.data.findings import Finding, QualityReport
    from cairn.data.quality import CleanResult, check_and_clean, clean_unlabelled, repair_types
    from cairn.data.repair import Factorized, factorize, repair_column, repair_frame
    from cairn.data.schema import (
        DROPPED_ROLES,
        ColumnSchema,
        Role,
        Schema,
        coerce_column,
        conform,
        infer_schema,
        unseen_categories,
    )
    from cairn.data.sources import collect, read_source, read_table
    from cairn.data.split import Fold, SplitResult, auto_repeats, make_folds
    from cairn.data.values import (
        MISSING_SENTINELS,
        as_strings,
        category_string,
        class_labels,
        infer_task,
        normalize_missing,
    )


__getattr__, __dir__ = _lazy_exports("cairn.data", _LAZY, __all__)
