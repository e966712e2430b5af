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
    "HIGH_CORRELATION",
    "IMBALANCE_SHARE",
    "MAX_CLASSES_SHOWN",
    "MAX_LEVELS",
    "MAX_PAIRWISE_COLUMNS",
    "MISSING_WARN_SHARE",
    "OUTLIER_SHARE",
    "QUALITY_ROWS",
    "SKEW_LIMIT",
    "TARGET_PLOT_LEVELS",
    "TOP_VALUES",
    "ZEROS_SHARE",
    "Alert",
    "ColumnProfile",
    "Correlations",
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
    "Alert": "cairn.eda._profile",
    "ColumnProfile": "cairn.eda._profile",
    "Correlations": "cairn.eda._profile",
    "HIGH_CORRELATION": "cairn.eda._profile",
    "IMBALANCE_SHARE": "cairn.eda._profile",
    "MAX_CLASSES_SHOWN": "cairn.eda._profile",
    "MAX_LEVELS": "cairn.eda._profile",
    "MAX_PAIRWISE_COLUMNS": "cairn.eda._profile",
    "MISSING_WARN_SHARE": "cairn.eda._profile",
    "Missingness": "cairn.eda._profile",
    "OUTLIER_SHARE": "cairn.eda._profile",
    "Profile": "cairn.eda._profile",
    "QUALITY_ROWS": "cairn.eda._profile",
    "SKEW_LIMIT": "cairn.eda._profile",
    "TARGET_PLOT_LEVELS": "cairn.eda._profile",
    "TOP_VALUES": "cairn.eda._profile",
    "TargetProfile": "cairn.eda._profile",
    "TargetRelation": "cairn.eda._profile",
    "ZEROS_SHARE": "cairn.eda._profile",
    "profile": "cairn.eda._profile",
    "render_profile": "cairn.eda.report",
    "write_profile_report": "cairn.eda.report",
}


__getattr__, __dir__ = _lazy_exports(__name__, _LAZY, __all__)
