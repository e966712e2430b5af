"""The EDA report: a :class:`~cairn.eda.Profile` as one
self-contained HTML page (see :mod:`cairn.reporting`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

import cairn.reporting as rp
from cairn.eda._column_report import column_id, column_section, role_badge, share_cell
from cairn.eda._combination_section import combination_sections
from cairn.eda._target_report import target_section
from cairn.eda._types import MIN_SUPPORT, ColumnProfile, Correlations, Issue, Profile


def render_profile(profile: Profile, *, title: str | None = None) -> str:
    """The profile as an HTML page (string)."""
    sections = [
        _overview(profile),
        *combination_sections(profile.quality),
        _quality(profile),
        _columns(profile),
        _missing(profile),
        _correlations(profile),
    ]
    if profile.target is not None:
        sections.append(target_section(profile))
    meta: dict[str, Any] = {
        "rows": f"{profile.n_rows:,}",
        "columns": f"{profile.n_columns:,}",
    }
    if profile.target is not None:
        meta["target"] = profile.target.name
        meta["task"] = profile.task
    return rp.render_page(
        title or f"Data profile: {profile.source}",
        sections,
        subtitle=f"Statistics over all {profile.n_rows:,} rows; every plot is drawn from them.",
        banner=_banner(profile),
        meta=meta,
    )


def write_profile_report(profile: Profile, path: str | Path, *, title: str | None = None) -> Path:
    """Render the profile and write it atomically to ``path``."""
    return rp.write_report(path, render_profile(profile, title=title))


def _banner(profile: Profile) -> str:
    """Errors and warnings of the whole page: the statistics' alerts and the
    quality checks' findings, counted from the one list both tables show."""
    issues = profile.issues
    counts = profile.issue_counts()
    errors = [i for i in issues if i.severity == "error"]
    warnings = [i for i in issues if i.severity == "warning"]
    notes = _plural(counts["info"], "note")
    where = " (see Alerts and Data quality below)"
    if not errors and not warnings:
        return rp.banner(
            "No errors or warnings in the data",
            "good",
            f"<p>{notes}{where}.</p>" * bool(counts["info"]),
        )
    title = ", ".join(
        _plural(len(found), label)
        for label, found in (("error", errors), ("warning", warnings))
        if found
    )
    shown = (errors + warnings)[:8]
    items = "".join(f"<li>{rp.escape(_issue_line(i, profile))}</li>" for i in shown)
    more = len(errors) + len(warnings) - len(shown)
    tail = f"<p>… and {more} more; {notes}{where}.</p>" if more else f"<p>{notes}{where}.</p>"
    return rp.banner(f"{title} in the data", "bad" if errors else "warn", f"<ul>{items}</ul>{tail}")


def _issue_line(issue: Issue, profile: Profile) -> str:
    line = f"{issue.column}: {issue.message}" if issue.column else issue.message
    return line + (_sample_note(profile) if issue.sampled else "")


def _sample_note(profile: Profile) -> str:
    return f" (checked on a random sample of {profile.quality_rows:,} rows)"


# ----------------------------------------------------------------- overview


def _overview(profile: Profile) -> rp.Section:
    n = profile.n_rows
    roles: dict[str, int] = {}
    for column in profile.columns:
        roles[column.role] = roles.get(column.role, 0) + 1
    tiles = _overview_tiles(profile)
    role_counts = " ".join(
        f"{role_badge(role)}&nbsp;{count}" for role, count in sorted(roles.items())
    )
    by_column = profile.issue_counts_by_column()
    none = {severity: 0 for severity in ("error", "warning", "info")}
    rows = [_overview_row(column, by_column.get(column.name, none)) for column in profile.columns]
    alert_rows = _alert_rows(profile)
    body = (
        tiles
        + f'<p class="note muted">Roles: {role_counts}</p>'
        + rp.table(rows, numeric_align=True)
    )
    children = []
    if alert_rows:
        children.append(
            rp.Section(
                "Alerts",
                rp.table(alert_rows),
                id="alerts",
                lead="What the statistics flag, computed on all rows.",
                nav=False,
                badge=_count_badge([i for i in profile.issues if i.origin == "alert"]),
            )
        )
    if profile.sampled_quality:
        body += rp.note(
            f"Column roles and the data-quality checks were computed on a random sample of "
            f"{profile.quality_rows:,} of {n:,} rows (they inspect values one by one); "
            "every statistic, count and plot in this report uses all rows.",
            "warn",
        )
    return rp.Section(
        "Overview",
        body,
        id="overview",
        lead="Size, memory, duplicates, missing values and the role cairn gives each column.",
        children=children,
    )


def _overview_tiles(profile: Profile) -> str:
    n = profile.n_rows
    cells = n * profile.n_columns
    return rp.tiles(
        [
            ("rows", n),
            ("columns", profile.n_columns),
            ("memory", rp.fmt_bytes(profile.memory_bytes)),
            (
                "duplicate rows",
                profile.duplicate_rows,
                rp.fmt_percent(profile.duplicate_rows / n)
                + (" · all rows compared" if profile.sampled_quality else ""),
            ),
            ("missing cells", profile.missing_cells, rp.fmt_percent(profile.missing_cells / cells)),
            (
                "rows with missing",
                profile.missingness.rows_with_missing,
                rp.fmt_percent(profile.missingness.rows_with_missing / n),
            ),
            _issue_tile(profile),
        ]
    )


def _issue_tile(profile: Profile) -> tuple[str, int, str]:
    counts = profile.issue_counts()
    return (
        "errors and warnings",
        counts["error"] + counts["warning"],
        ", ".join(_plural(counts[s], w) for s, w in _WORDS),
    )


def _overview_row(column: ColumnProfile, counts: dict[str, int]) -> dict[str, Any]:
    """The column's line in the overview table; ``counts``: its issues per severity."""
    alerts = sum(counts.values())
    tone = "bad" if counts["error"] else "warn" if counts["warning"] else "muted"
    return {
        "column": rp.Raw(f'<a href="#{column_id(column.name)}">{rp.escape(column.name)}</a>'),
        "role": rp.Raw(role_badge(column.role)),
        "type": column.dtype,
        "missing": rp.Raw(share_cell(column.missing, column.rows)),
        "distinct": column.n_unique,
        "summary": _one_line(column),
        "alerts": rp.Raw(rp.badge(str(alerts), tone)) if alerts else "",
    }


def _alert_rows(profile: Profile) -> list[dict[str, Any]]:
    return [
        {
            "severity": rp.Raw(rp.badge(a.severity, _TONE.get(a.severity, "info"))),
            "column": rp.Raw(
                f'<a href="#{column_id(a.column)}">{rp.escape(a.column)}</a>' if a.column else "—"
            ),
            "alert": a.kind.replace("_", " "),
            "what": a.message,
        }
        for a in sorted(profile.alerts, key=lambda a: (a.severity != "warning", a.column or ""))
    ]


_TONE = {"error": "bad", "warning": "warn", "info": "info"}
_WORDS = (("error", "error"), ("warning", "warning"), ("info", "note"))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' * (count != 1)}"


def _count_badge(issues: list[Issue]) -> str:
    """How many items a table lists, toned by the worst of them."""
    if not issues:
        return ""
    severities = {i.severity for i in issues}
    tone = "bad" if "error" in severities else "warn" if "warning" in severities else "muted"
    return rp.badge(str(len(issues)), tone)


def _one_line(column: ColumnProfile) -> str:
    stats = column.numeric
    if column.kind == "numeric" and stats is not None:
        return (
            f"mean {rp.fmt_number(stats.mean)}, median {rp.fmt_number(stats.median)}, "
            f"range {rp.fmt_number(stats.min)} – {rp.fmt_number(stats.max)}"
        )
    if column.kind == "datetime" and column.datetime:
        return f"{column.datetime['min'][:10]} – {column.datetime['max'][:10]}"
    if column.kind == "id":
        repeated = column.count - column.n_unique
        return "identifier, unique per row" if not repeated else f"identifier, {repeated:,} repeats"
    if column.top:
        value, count = column.top[0]
        return f"most frequent {value!r} ({rp.fmt_percent(count / max(column.count, 1))})"
    return ""


# ----------------------------------------------------------------- quality


def _quality(profile: Profile) -> rp.Section:
    findings = profile.quality.findings
    rows = [
        {
            "severity": rp.Raw(rp.badge(f.severity, _TONE.get(f.severity, "info"))),
            "check": f.check.replace("_", " "),
            "column": rp.Raw(
                f'<a href="#{column_id(f.column)}">{rp.escape(f.column)}</a>'
                if f.column and any(c.name == f.column for c in profile.columns)
                else rp.escape(f.column or "—")
            ),
            "rows": rp.Raw(
                f"{f.count:,} <span class='note muted'>in a sample of "
                f"{profile.quality_rows:,}</span>"
            )
            if profile.is_sampled(f)
            else f.count,
            "what was seen": f.message,
            "action": rp.Raw(
                (rp.badge("applied", "good") if f.applied else rp.badge("suggested", "muted"))
                + " "
                + rp.escape(f.action)
            ),
        }
        for f in sorted(
            findings, key=lambda f: ({"error": 0, "warning": 1}.get(f.severity, 2), f.column or "")
        )
    ]
    body = rp.table(rows) if rows else rp.note("The checks found nothing to report.", "good")
    if profile.sampled_quality:
        body += rp.note(
            "Type repairs (spaces, missing-value markers, numbers stored as text, "
            f"label spellings) are counted on all {profile.n_rows:,} rows; the other checks "
            f"ran on a random sample of {profile.quality_rows:,} rows and their counts refer "
            "to that sample (marked “in a sample of …” in the rows column). The overview's "
            "counts (duplicate rows, missing values) compare all rows.",
            "muted",
        )
    return rp.Section(
        "Data quality",
        body,
        id="quality",
        lead="What cairn's checks found, and what it did (applied) or suggests.",
        badge=_count_badge([i for i in profile.issues if i.origin == "quality check"]),
    )


# ----------------------------------------------------------------- columns


def _columns(profile: Profile) -> rp.Section:
    sampled = profile.quality_rows if profile.sampled_quality else 0
    children = [column_section(column, sampled_rows=sampled) for column in profile.columns]
    return rp.Section(
        "Columns",
        "",
        id="columns",
        lead="One part per column: statistics, distribution, most frequent values (lengths "
        "and words for text), outliers and alerts.",
        children=children,
    )


# ----------------------------------------------------------------- missing values


def _missing(profile: Profile) -> rp.Section:
    missing = {k: v for k, v in profile.missingness.by_column.items() if v > 0}
    if not missing:
        return rp.Section(
            "Missing values",
            rp.note("No value is missing in any column.", "good"),
            id="missing",
        )
    ordered = sorted(missing.items(), key=lambda kv: -kv[1])
    bar = rp.bar(
        [k for k, _ in ordered],
        [v for _, v in ordered],
        horizontal=True,
        title="Share of rows missing, per column",
        x_title="share of rows",
        text=[rp.fmt_percent(v) for _, v in ordered],
        hover="%{y}: %{x:.2%} missing",
    )
    ticks, labels = share_ticks(ordered[0][1])
    bar.layout["xaxis"] = {**bar.layout["xaxis"], "tickvals": ticks, "ticktext": labels}
    counts = profile.missingness.rows_by_count
    per_row = rp.bar(
        [str(k) for k in range(len(counts))],
        counts,
        title="Rows by number of missing values",
        x_title="missing values in the row",
        y_title="rows",
        hover="%{x} missing: %{y:,} rows",
    )
    parts = [str(bar), str(per_row)]
    nullity = profile.missingness.nullity
    together = ""
    if nullity is not None:
        together = str(
            rp.heatmap(
                nullity.to_numpy(),
                list(nullity.columns),
                list(nullity.index),
                zmin=-1,
                zmax=1,
                colorscale=rp.DIVERGING,
                title="Missing together",
                caption="Correlation between the columns' missing-value indicators: 1 means "
                "always missing together, −1 never.",
                hover="%{y} & %{x}: %{z:.2f}<extra></extra>",
            )
        )
    return rp.Section(
        "Missing values",
        rp.grid(*parts, min_width=420) + together,
        id="missing",
        lead=f"{len(missing)} of {profile.n_columns} columns have missing values; "
        f"{profile.missingness.rows_with_missing:,} rows "
        f"({rp.fmt_percent(profile.missingness.rows_with_missing / profile.n_rows)}) miss "
        "at least one.",
    )


def share_ticks(largest: float, target_ticks: int = 5) -> tuple[list[float], list[str]]:
    """Axis ticks from 0 to a little past ``largest`` (a share in (0, 1]),
    at a round step, labelled as percentages with just enough decimals that
    no two labels read the same (0.05% steps, not "0% 0% 0%")."""
    largest = min(max(float(largest), 1e-6), 1.0)
    raw = largest / target_ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    count = math.ceil(largest / step - 1e-9)
    values = [round(i * step, 12) for i in range(count + 1)]
    decimals = max(0, -math.floor(math.log10(step * 100) + 1e-9))
    if round(step * 100, decimals) != step * 100:  # 2.5 steps need one more
        decimals += 1
    return values, [f"{v * 100:.{decimals}f}%" for v in values]


# ----------------------------------------------------------------- correlations


def _correlations(profile: Profile) -> rp.Section:
    corr = profile.correlations
    views = (
        _mixed_matrix(corr),
        _numeric_matrices(corr),
        _cramers_matrix(corr),
        _strongest_pairs(corr),
    )
    parts = [view for view in views if view is not None]
    body = "" if parts else rp.note("Fewer than two numeric or categorical columns.", "muted")
    lead = (
        "Association between columns, each pair over the rows where both have a value; "
        f"pairs sharing fewer than {MIN_SUPPORT} such rows are left blank and not ranked"
        + (
            f" ({corr.too_few_rows} pair{'s' * (corr.too_few_rows != 1)})."
            if corr.too_few_rows
            else "."
        )
    )
    lead += _association_sample_note(profile)
    if corr.columns_left_out:
        covered = profile.n_columns - corr.columns_left_out
        lead += (
            f" This wide table's pairwise views cover {covered} of its {profile.n_columns} "
            "columns: the target and the columns most associated with it (the first "
            "columns when there is no target)."
        )
    return rp.Section("Correlations", body, id="correlations", lead=lead, children=parts)


def _association_sample_note(profile: Profile) -> str:
    """How many rows the relationships were measured on, when not all."""
    if not profile.association_rows:
        return ""
    return (
        f" Measured on a random sample of {profile.association_rows:,} of the "
        f"{profile.n_rows:,} rows; the column statistics use every row."
    )


def _mixed_matrix(corr: Correlations) -> rp.Section | None:
    """Every kind of association between all columns, on one scale."""
    if corr.mixed is None:
        return None
    return rp.Section(
        "All columns (mixed)",
        _strength_heatmap(corr.mixed, hover="%{y} & %{x}: %{z:.2f}<extra></extra>"),
        lead="Strength of association in [0, 1]: |Spearman ρ| between numbers, "
        "Cramér's V between categories, correlation ratio η between a number and a "
        "category.",
        nav=False,
    )


def _strength_heatmap(matrix: pd.DataFrame, **options: Any) -> str:
    """An association matrix on [0, 1], its values written in when it is small."""
    return str(
        rp.heatmap(
            matrix.to_numpy(),
            list(matrix.columns),
            list(matrix.index),
            zmin=0,
            zmax=1,
            text_format=".2f" if len(matrix) <= 20 else None,
            **options,
        )
    )


def _numeric_matrices(corr: Correlations) -> rp.Section | None:
    """Pearson and Spearman correlation between numbers, side by side."""
    numeric_plots = []
    for label, matrix in (("Pearson r", corr.pearson), ("Spearman ρ", corr.spearman)):
        if matrix is not None:
            numeric_plots.append(
                str(
                    rp.heatmap(
                        matrix.to_numpy(),
                        list(matrix.columns),
                        list(matrix.index),
                        zmin=-1,
                        zmax=1,
                        colorscale=rp.DIVERGING,
                        title=label,
                        text_format=".2f" if len(matrix) <= 16 else None,
                    )
                )
            )
    if not numeric_plots:
        return None
    return rp.Section(
        "Numbers: Pearson and Spearman",
        rp.grid(*numeric_plots, min_width=440),
        lead="Linear (Pearson) and rank (Spearman) correlation over the rows where "
        "both values are present.",
        nav=False,
    )


def _cramers_matrix(corr: Correlations) -> rp.Section | None:
    """Cramér's V between categories."""
    if corr.cramers_v is None:
        return None
    return rp.Section(
        "Categories: Cramér's V",
        _strength_heatmap(corr.cramers_v),
        lead="Bias-corrected Cramér's V; categories beyond the 50 most frequent are "
        "merged into one level.",
        nav=False,
    )


def _strongest_pairs(corr: Correlations) -> rp.Section | None:
    """The most strongly associated pairs of columns."""
    if not corr.top_pairs:
        return None
    return rp.Section(
        "Strongest pairs",
        rp.table(
            [
                {
                    "column": a,
                    "with": b,
                    "measure": m,
                    "strength": round(v, 3),
                    "rows with both": support,
                }
                for a, b, m, v, support in corr.top_pairs[:15]
            ]
        ),
        nav=False,
    )
