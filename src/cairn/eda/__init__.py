"""Exploratory data analysis::

    from cairn.eda import profile, write_profile_report

    write_profile_report(profile(frame, target="Churn"), "customers.html")

:func:`profile` computes fast statistics over every row of a table;
:func:`write_profile_report` writes them as a self-contained HTML page. Names
load on first use, so importing the package stays cheap.
"""

from __future__ import annotations

from cairn._lazy import lazy_exports as _lazy_exports

__all__ = [
    "ASSOCIATION_ROWS",
    "HIGH_CORRELATION",
    "IMBALANCE_SHARE",
    "MAX_CLASSES_SHOWN",
    "MAX_LEVELS",
    "MAX_PAIRWISE_COLUMNS",
    "MIN_SUPPORT",
    "MISSING_WARN_SHARE",
    "OUTLIER_SHARE",
    "PILE_UP_RATIO",
    "PILE_UP_SHARE",
    "QUALITY_ROWS",
    "SKEW_LIMIT",
    "STRONG_TARGET_ASSOCIATION",
    "TARGET_PLOT_LEVELS",
    "TOP_VALUES",
    "ZEROS_SHARE",
    "Alert",
    "ColumnProfile",
    "Correlations",
    "Issue",
    "Missingness",
    "Profile",
    "TargetProfile",
    "TargetRelation",
    "profile",
    "render_profile",
    "report",
    "write_profile_report",
]

_LAZY = {
    "Alert": "cairn.eda._types",
    "ColumnProfile": "cairn.eda._types",
    "Correlations": "cairn.eda._types",
    "HIGH_CORRELATION": "cairn.eda._types",
    "IMBALANCE_SHARE": "cairn.eda._types",
    "MAX_CLASSES_SHOWN": "cairn.eda._types",
    "MAX_LEVELS": "cairn.eda._types",
    "MAX_PAIRWISE_COLUMNS": "cairn.eda._types",
    "MIN_SUPPORT": "cairn.eda._types",
    "MISSING_WARN_SHARE": "cairn.eda._types",
    "PILE_UP_RATIO": "cairn.eda._types",
    "PILE_UP_SHARE": "cairn.eda._types",
    "STRONG_TARGET_ASSOCIATION": "cairn.eda._types",
    "Issue": "cairn.eda._types",
    "Missingness": "cairn.eda._types",
    "OUTLIER_SHARE": "cairn.eda._types",
    "Profile": "cairn.eda._types",
    "QUALITY_ROWS": "cairn.eda._types",
    "ASSOCIATION_ROWS": "cairn.eda._types",
    "SKEW_LIMIT": "cairn.eda._types",
    "TARGET_PLOT_LEVELS": "cairn.eda._types",
    "TOP_VALUES": "cairn.eda._types",
    "TargetProfile": "cairn.eda._types",
    "TargetRelation": "cairn.eda._types",
    "ZEROS_SHARE": "cairn.eda._types",
    "profile": "cairn.eda._profile",
    "render_profile": "cairn.eda.report",
    "write_profile_report": "cairn.eda.report",
}


__getattr__, __dir__ = _lazy_exports(__name__, _LAZY, __all__)
