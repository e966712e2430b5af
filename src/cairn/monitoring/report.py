"""The monitoring report: a :class:`~cairn.monitoring.result.MonitorResult`
as one self-contained HTML page, in the style every cairn report shares
(see :mod:`cairn.reporting`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from cairn import reporting as rp
from cairn.monitoring.clusters import ClusterReport
from cairn.monitoring.drift import SEVERITY_CAP, DriftReport, FeatureDrift
from cairn.monitoring.performance import PerformanceReport
from cairn.monitoring.recommendations import RecommendationReport
from cairn.monitoring.result import MonitorResult

__all__ = ["render_html", "write_monitoring_report"]

#: Per-feature distribution plots drawn (drifted and most important first);
#: the rest are summarised in the table.
FEATURE_PLOTS = 40
_TEST_NAMES = {
    "ks": "Kolmogorov–Smirnov",
    "chi2": "chi-square",
    "wasserstein": "Wasserstein (÷ std)",
    "jensenshannon": "Jensen–Shannon",
    "psi": "PSI",
}


def render_html(report: MonitorResult) -> str:
    """The report as an HTML page (string)."""
    sections = [_overview(report), _checks(report)]
    if report.drift is not None:
        sections.append(_drift_section(report.drift))
        if report.drift.outputs:
            sections.append(_prediction_section(report.drift))
    if report.clusters is not None:
        sections.append(_clusters_section(report.clusters))
    if report.recommendations is not None:
        sections.extend(_recommendation_sections(report.recommendations))
    if report.drift is not None and report.drift.findings:
        sections.append(_findings_section(report.drift))
    if report.performance is not None:
        sections.append(_performance_section(report.performance))
    if report.drift is not None:
        sections.append(_settings_section(report.drift))
    model = report.model
    name = model.get("name") or "model"
    version = model.get("version")
    meta: dict[str, Any] = {"model": f"{name}" + (f" v{version}" if version else "")}
    if model.get("alias"):
        meta["alias"] = model["alias"]
    meta["task"] = model.get("task")
    meta["data"] = report.source or "current batch"
    if model.get("created_at"):
        meta["trained"] = model["created_at"]
    return rp.render_page(
        f"Monitoring: {name}",
        sections,
        subtitle="Current data against the training reference stored with the model.",
        banner=_banner(report),
        meta=meta,
    )


def write_monitoring_report(report: MonitorResult, path: str | Path) -> Path:
    """Render the report and write it atomically to ``path``."""
    return rp.write_report(path, render_html(report))


_STATUS_TONE = {"pass": "good", "fail": "bad", "warn": "warn", "not checked": "muted"}
_VERDICT_TONE = {"unhealthy": "bad", "healthy, with warnings": "warn", "healthy": "good"}


def _banner(report: MonitorResult) -> str:
    shown = [c for c in report.checks if c.status == "fail"]
    shown += [c for c in report.checks if c.status == "warn"]
    items = [f"<li>{rp.escape(c.name)} ({c.status}): {rp.escape(c.message)}</li>" for c in shown]
    if report.retrain is not None and report.retrain.due:
        items.append(
            "<li>retraining due: " + rp.escape("; ".join(report.retrain.reasons)) + "</li>"
        )
    items += [f"<li>{rp.escape(note)}</li>" for note in report.notes]
    details = f"<ul>{''.join(items)}</ul>" if items else ""
    tone = _VERDICT_TONE[report.verdict]
    if tone == "good" and report.retrain is not None and report.retrain.due:
        tone = "warn"
    return rp.banner(report.summary(), tone, details)


def _overview(report: MonitorResult) -> rp.Section:
    items: list[tuple[str, Any] | tuple[str, Any, str]] = []
    drift = report.drift
    if drift is not None:
        items += [
            ("current rows", drift.n_current),
            ("reference rows", drift.n_reference),
            (
                "drifted features",
                f"{len(drift.drifted)} of {len(drift.features)}",
                f"{rp.fmt_percent(drift.drift_share)} of the importance; "
                f"severity-weighted {drift.drift_score:.2f}",
            ),
            (
                "prediction drift",
                ("yes" if drift.prediction_drift else "no") if drift.outputs else "not checked",
            ),
            ("check time", rp.fmt_duration(drift.seconds)),
        ]
    clusters = report.clusters
    if clusters is not None:
        items.append(
            (
                "cluster shares",
                "drifted" if clusters.shares_drifted else "stable",
                clusters.moved_text(),
            )
        )
        if clusters.silhouette_current is not None:
            items.append(
                (
                    "silhouette",
                    rp.fmt_number(clusters.silhouette_current, 3),
                    f"training {rp.fmt_number(clusters.silhouette_reference, 3)}",
                )
            )
    recommended = report.recommendations
    if recommended is not None:
        best = recommended.champion
        items += [
            ("served lists", recommended.lists),
            ("later interactions", recommended.interactions),
            (
                f"precision@{recommended.k}",
                "-" if best is None else rp.fmt_number(best.precision),
                ""
                if best is None
                else f"popular items: {rp.fmt_number(best.popularity_precision)}",
            ),
            ("catalogue coverage", rp.fmt_percent(recommended.coverage)),
            ("items unseen in training", rp.fmt_percent(recommended.unseen_item_share)),
            ("interactions by new users", rp.fmt_percent(recommended.new_user_share)),
        ]
    perf = report.performance
    if perf is not None:
        main = perf.overall.get(perf.metric)
        if main is not None:
            hint = ""
            if main.low is not None and main.high is not None:
                hint = f"{rp.fmt_number(main.low)} – {rp.fmt_number(main.high)}"
            items.append((perf.metric, rp.fmt_number(main.value), hint))
        items.append(("labelled rows", perf.n))
    return rp.Section("Overview", rp.tiles(items), lead=report.summary())


def _checks(report: MonitorResult) -> rp.Section:
    rows = []
    for check in report.checks:
        status = rp.badge(check.status, _STATUS_TONE[check.status])
        rows.append(
            {
                "check": check.name,
                "status": rp.Raw(status),
                "decides health": "yes" if check.counts else "no",
                "finding": check.message,
            }
        )
    body = rp.table(rows)
    if report.retrain is not None:
        advice = report.retrain
        text = (
            "Retraining is due: " + "; ".join(advice.reasons)
            if advice.due
            else "No retraining trigger fired."
        )
        body += rp.note(text, "warn" if advice.due else "muted")
    return rp.Section(
        "Health checks",
        body,
        lead="Checks listed in [monitoring] unhealthy_on decide health and the exit status: "
        "such a check that fails says fail; any other check that fails says warn.",
    )


def _feature_rows(results: list[FeatureDrift]) -> list[dict[str, Any]]:
    rows = []
    for r in results:
        rows.append(
            {
                "feature": rp.Raw(f'<a href="#{_feature_id(r.name)}">{rp.escape(r.name)}</a>'),
                "drift": rp.Raw(rp.badge("drift", "bad") if r.drifted else rp.badge("ok", "good")),
                "test": _TEST_NAMES.get(r.test, r.test),
                "value": r.statistic,
                "threshold": r.threshold,
                "p (adjusted)": r.p_adjusted if r.p_adjusted is not None else "—",
                "importance": rp.fmt_percent(r.importance),
                "verdict weight": r.weight,
                "missing ref → cur": (
                    f"{rp.fmt_percent(r.missing_reference)} → {rp.fmt_percent(r.missing_current)}"
                ),
                "PSI": r.scores.get("psi"),
            }
        )
    return rows


def _score(result: FeatureDrift, alpha: float) -> float:
    """A test's value relative to its threshold: above 1 means drift."""
    if result.p_adjusted is not None:
        return -math.log10(max(result.p_adjusted, 1e-300)) / -math.log10(alpha)
    return result.statistic / result.threshold if result.threshold else 0.0


def _feature_id(name: str) -> str:
    return "feature-" + rp.slug(name)


def _distribution(result: FeatureDrift, *, title: str = "") -> rp.Figure:
    traces = [
        {
            "type": "bar",
            "name": "reference",
            "x": result.bins,
            "y": result.reference_share,
            "marker": {"color": rp.MUTED},
            "hovertemplate": "reference: %{y:.1%}<extra>%{x}</extra>",
        },
        {
            "type": "bar",
            "name": "current",
            "x": result.bins,
            "y": result.current_share,
            "marker": {"color": rp.BAD if result.drifted else rp.PALETTE[0]},
            "hovertemplate": "current: %{y:.1%}<extra>%{x}</extra>",
        },
    ]
    layout = {
        "barmode": "group",
        "showlegend": True,
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
        "margin": {"t": 28},
        "xaxis": {"type": "category"},
        "yaxis": {"tickformat": ".0%", "title": {"text": "share of rows"}},
    }
    caption = (
        "Bins are equal-mass ranges of the training values."
        if result.kind == "numeric"
        else "Most frequent categories; the rest pooled."
    )
    return rp.Figure(traces, layout, title=title, caption=caption, height=280)


def _feature_detail(result: FeatureDrift) -> rp.Section:
    facts: dict[str, Any] = {
        "test": _TEST_NAMES.get(result.test, result.test),
        "value": result.statistic,
        "threshold": result.threshold,
    }
    if result.p_value is not None:
        facts["p-value"] = result.p_value
        facts["p-value (adjusted)"] = result.p_adjusted
    for name, value in result.scores.items():
        if name not in (result.test, f"{result.test}_p"):
            facts[name] = value
    if result.reference_mean is not None:
        facts["mean ref → cur"] = (
            f"{rp.fmt_number(result.reference_mean)} → {rp.fmt_number(result.current_mean)}"
        )
    facts["rows ref / cur"] = f"{result.n_reference:,} / {result.n_current:,}"
    body = rp.grid(str(_distribution(result)), rp.key_values(facts, compact=True), min_width=300)
    badge = rp.badge("drift", "bad") if result.drifted else ""
    return rp.Section(result.name, body, id=_feature_id(result.name), badge=badge, nav=False)


def _drift_section(drift: DriftReport) -> rp.Section:
    features = drift.features
    alpha = float(drift.settings.get("significance", 0.05))
    scores = rp.bar(
        [r.name for r in features],
        [_score(r, alpha) for r in features],
        horizontal=True,
        color=[rp.BAD if r.drifted else rp.PALETTE[0] for r in features],
        x_title="score ÷ threshold (above 1: drift)",
        title="Drift score per feature",
        caption="p-value tests: −log10 p (adjusted) ÷ −log10 α; distances: value ÷ threshold.",
        height=max(200, 22 * len(features) + 90),
    )
    table = rp.table(_feature_rows(features))
    ranked = sorted(features, key=lambda r: (not r.drifted, -r.importance))
    children = [_feature_detail(r) for r in ranked[:FEATURE_PLOTS]]
    more = ""
    if len(ranked) > FEATURE_PLOTS:
        more = rp.note(
            f"Distributions of the first {FEATURE_PLOTS} features are drawn "
            f"(drifted and most important first); {len(ranked) - FEATURE_PLOTS} more are "
            "in the table and in the JSON result."
        )
    lead = (
        f"{len(drift.drifted)} of {len(features)} features drifted, "
        f"{rp.fmt_percent(drift.drift_share)} of the importance ({drift.weighting}). "
        "Each drifted feature weighs its importance times its severity (distance ÷ "
        f"threshold, from 1 up to {SEVERITY_CAP:g}); together "
        f"{drift.drift_score:.2f} against a threshold of {drift.settings['drift_share']:g}."
    )
    return rp.Section(
        "Data drift",
        str(scores) + table + more,
        lead=lead,
        children=children,
        badge=rp.badge("dataset drift", "bad") if drift.dataset_drift else "",
    )


def _prediction_section(drift: DriftReport) -> rp.Section:
    rows = _feature_rows(drift.outputs)
    for row in rows:
        row.pop("importance", None)
        row.pop("verdict weight", None)
    body = rp.table(rows)
    plots = [str(_distribution(r, title=r.name)) for r in drift.outputs[:6]]
    body += rp.grid(*plots)
    return rp.Section(
        "Prediction drift",
        body,
        lead="The model's outputs on the current rows against its outputs on held-out "
        "training data.",
        badge=rp.badge("drift", "bad") if drift.prediction_drift else "",
    )


def _clusters_section(clusters: ClusterReport) -> rp.Section:
    ids = [str(c.cluster) for c in clusters.clusters]
    colours = {"grew": rp.BAD, "shrank": rp.PALETTE[3], "": rp.PALETTE[0]}
    shares = rp.Figure(
        [
            {
                "type": "bar",
                "name": "training",
                "x": ids,
                "y": [c.reference_share for c in clusters.clusters],
                "marker": {"color": rp.MUTED},
                "hovertemplate": "training: %{y:.1%}<extra>cluster %{x}</extra>",
            },
            {
                "type": "bar",
                "name": "current",
                "x": ids,
                "y": [c.current_share for c in clusters.clusters],
                "marker": {"color": [colours[c.change] for c in clusters.clusters]},
                "hovertemplate": "current: %{y:.1%}<extra>cluster %{x}</extra>",
            },
        ],
        {
            "barmode": "group",
            "showlegend": True,
            "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
            "margin": {"t": 28},
            "xaxis": {"type": "category", "title": {"text": "cluster"}},
            "yaxis": {"tickformat": ".0%", "title": {"text": "share of rows"}},
        },
        title="Rows per cluster",
        caption="Training: the rows the model was fitted on. Current: the ids served "
        "(prediction log) or given by the model now.",
        height=300,
    )
    tone = {"grew": "bad", "shrank": "warn"}
    rows = [
        {
            "cluster": c.cluster,
            "training share": rp.fmt_percent(c.reference_share),
            "current share": rp.fmt_percent(c.current_share),
            "change": f"{100 * c.difference:+.1f} pts",
            "current rows": c.current_rows,
            "p (adjusted)": c.p_adjusted,
            "status": rp.Raw(
                rp.badge(c.change, tone[c.change]) if c.change else rp.badge("ok", "good")
            ),
        }
        for c in clusters.clusters
    ]
    facts: dict[str, Any] = {
        "share test": _TEST_NAMES.get(clusters.test, clusters.test),
        "value": clusters.statistic,
    }
    if clusters.p_value is not None:
        facts["p-value"] = clusters.p_value
    else:
        facts["threshold"] = clusters.threshold
    facts["rows training / current"] = f"{clusters.n_reference:,} / {clusters.n_current:,}"
    if clusters.unknown_rows:
        facts["rows with an unknown id"] = clusters.unknown_rows
    facts["silhouette training"] = clusters.silhouette_reference
    facts["silhouette current"] = clusters.silhouette_current
    if clusters.silhouette_drop is not None:
        facts["silhouette drop"] = (
            f"{clusters.silhouette_drop:+.3f} (flagged above {clusters.silhouette_threshold:g})"
        )
        facts["p-value of the drop"] = clusters.silhouette_p
    body = rp.grid(str(shares), rp.key_values(facts, compact=True), min_width=300)
    body += rp.table(
        rows,
        caption="Each cluster's share tested on its own (two-proportion z-test), "
        "adjusted for multiple testing like the features.",
    )
    for finding in clusters.findings:
        body += rp.note(finding.message, "warn")
    badges = []
    if clusters.shares_drifted:
        badges.append(rp.badge("shares drifted", "bad"))
    if clusters.quality_dropped:
        badges.append(rp.badge("silhouette dropped", "warn"))
    return rp.Section(
        "Clusters",
        body,
        lead=clusters.summary() + ". The silhouette is measured in the model's prepared "
        "space, on the current rows under the model's own assignment.",
        badge=" ".join(badges),
    )


def _findings_section(drift: DriftReport) -> rp.Section:
    tone = {"error": "bad", "warning": "warn", "info": "muted"}
    rows = [
        {
            "severity": rp.Raw(rp.badge(f.severity, tone[f.severity])),
            "column": f.column,
            "check": f.kind.replace("_", " "),
            "finding": f.message,
        }
        for f in sorted(
            drift.findings, key=lambda f: ("error", "warning", "info").index(f.severity)
        )
    ]
    return rp.Section(
        "Column checks",
        rp.table(rows),
        lead="Schema changes, missing-rate jumps, out-of-range values and new categories, "
        "reported column by column.",
    )


def _performance_section(perf: PerformanceReport) -> rp.Section:
    rows = []
    for name, estimate in perf.overall.items():
        interval = "—"
        if estimate.low is not None and estimate.high is not None:
            interval = f"{rp.fmt_number(estimate.low)} – {rp.fmt_number(estimate.high)}"
        test = perf.test_metrics.get(name)
        gap = perf.gaps.get(name)
        rows.append(
            {
                "metric": name,
                "production": estimate.value,
                f"{perf.confidence:.0%} interval": interval,
                "test set": test if test is not None else "—",
                "difference": (
                    f"{gap.difference.value:+.3g} ({gap.difference.low:+.3g} to "
                    f"{gap.difference.high:+.3g})"
                    if gap is not None
                    else "—"
                ),
                "status": rp.Raw(_degradation_badge(name, perf)),
            }
        )
    body = rp.table(
        rows,
        caption="Intervals by bootstrap over the labelled rows. A metric is degraded when "
        "the interval of its difference from the test set, combining the intervals of "
        "both figures, lies wholly on the worse side of zero.",
    )
    if perf.objectives:
        objective_rows = [
            {
                "objective": c.objective,
                "value": c.value if c.value is not None else "—",
                "status": rp.Raw(
                    rp.badge("not measured", "muted")
                    if c.met is None
                    else rp.badge("met", "good")
                    if c.met
                    else rp.badge("missed" + (" (significant)" if c.significant else ""), "bad")
                ),
                "measured on": c.how,
            }
            for c in perf.objectives
        ]
        body += "<h4>Objectives</h4>" + rp.table(objective_rows)
    windows = [w for w in perf.windows if perf.metric in w.metrics]
    if len(windows) > 1:
        body += str(_metric_over_time(perf))
    if perf.windows:
        window_rows = [
            {
                "window start": w.start,
                "rows": w.n,
                perf.metric: w.metrics[perf.metric].value if perf.metric in w.metrics else "—",
                "note": w.note,
            }
            for w in perf.windows
        ]
        body += rp.details(f"Windows of {perf.window}", rp.table(window_rows))
    if perf.join is not None:
        join = perf.join
        body += rp.note(
            f"Labels joined on {', '.join(join.key)}: {join.matched:,} matched, "
            f"{join.unmatched_predictions:,} predictions without a label, "
            f"{join.unmatched_labels:,} labels without a prediction."
        )
    return rp.Section(
        "Performance",
        body,
        lead=perf.summary(),
        badge=rp.badge("objective missed", "bad") if perf.failed_objectives else "",
    )


def _degradation_badge(name: str, perf: PerformanceReport) -> str:
    gap = perf.gaps.get(name)
    if gap is None:
        return rp.badge("not judged", "muted")
    return rp.badge("degraded", "bad") if gap.degraded else rp.badge("in line", "good")


def _metric_over_time(perf: PerformanceReport) -> rp.Figure:
    windows = [w for w in perf.windows if perf.metric in w.metrics]
    x = [w.start for w in windows]
    values = [w.metrics[perf.metric].value for w in windows]
    upper = [
        (w.metrics[perf.metric].high or w.metrics[perf.metric].value) - w.metrics[perf.metric].value
        for w in windows
    ]
    lower = [
        w.metrics[perf.metric].value - (w.metrics[perf.metric].low or w.metrics[perf.metric].value)
        for w in windows
    ]
    traces: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": perf.metric,
            "x": x,
            "y": values,
            "line": {"color": rp.PALETTE[0], "width": 2},
            "error_y": {
                "type": "data",
                "symmetric": False,
                "array": upper,
                "arrayminus": lower,
                "color": rp.MUTED,
            },
        }
    ]
    shapes = []
    test = perf.test_metrics.get(perf.metric)
    if test is not None:
        shapes.append(_hline(test, rp.GOOD, "test set"))
    for c in perf.objectives:
        if c.quantity == perf.metric:
            threshold = float(c.objective.split()[-1])
            shapes.append(_hline(threshold, rp.BAD, c.objective))
    layout: dict[str, Any] = {
        "shapes": shapes,
        "xaxis": {"title": {"text": "window start"}},
        "yaxis": {"title": {"text": perf.metric}},
    }
    return rp.Figure(
        traces,
        layout,
        title=f"{perf.metric} per window of {perf.window}",
        caption="Bars: bootstrap confidence interval. Lines: test-set figure and objectives.",
        height=300,
    )


def _hline(y: float, colour: str, label: str) -> dict[str, Any]:
    return {
        "type": "line",
        "xref": "paper",
        "x0": 0,
        "x1": 1,
        "y0": y,
        "y1": y,
        "line": {"color": colour, "dash": "dot", "width": 1.5},
        "label": {"text": label, "textposition": "end", "font": {"size": 10}},
    }


def _settings_section(drift: DriftReport) -> rp.Section:
    return rp.Section(
        "Settings",
        rp.key_values({k: _setting(v) for k, v in drift.settings.items()}, compact=True),
        lead="The [monitoring] section in effect (defaults where the spec is silent).",
    )


def _setting(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) if value else "none"
    return str(value)


def _recommendation_sections(report: RecommendationReport) -> list[rp.Section]:
    """Served quality per arm, then the drift of items and users."""
    rows = [
        {
            "arm": arm.arm,
            "lists served": arm.lists,
            "lists judged": arm.active_lists,
            "hit rate": arm.hit_rate,
            f"precision@{report.k}": arm.precision,
            "popular items: hit rate": arm.popularity_hit_rate,
            f"popular items: precision@{report.k}": arm.popularity_precision,
            "difference (interval)": "-"
            if arm.difference_low is None
            else f"{arm.difference_low:+.4f} to {arm.difference_high:+.4f}",
            "status": rp.Raw(
                rp.badge("no better than popular", "bad")
                if arm.worse_than_popularity
                else rp.badge("ok", "good")
            ),
        }
        for arm in report.arms
    ]
    facts: dict[str, Any] = {
        "catalogue coverage of what was served": rp.fmt_percent(report.coverage),
        "served slots on the 10 % most popular items": rp.fmt_percent(report.served_popular_share),
        "lists answered by the fallback (unknown users)": rp.fmt_percent(report.fallback_share),
        "hit window after serving": "any time later"
        if report.horizon_s is None
        else rp.fmt_duration(report.horizon_s),
    }
    for name in (f"hit_rate@{report.k}", f"precision@{report.k}", f"ndcg@{report.k}"):
        if name in report.test_metrics:
            facts[f"{name} on the test split"] = report.test_metrics[name]
    body = rp.key_values(facts, compact=True)
    if rows:
        body += rp.table(
            rows,
            caption="A hit: the user interacted with a served item after it was served. Only "
            "lists whose user interacted at all afterwards are judged. The popular items are "
            "the most popular ones the user had not seen, on the same lists; the difference "
            "is the paired difference of precision with its bootstrap interval.",
        )
    served = rp.Section("Served recommendations", body, lead=report.quality_message())
    drift_facts: dict[str, Any] = {
        "Jensen-Shannon distance, training vs recent items": report.popularity_distance,
        "the same for samples of training of this size (median)": report.popularity_null,
        "excess over sampling": f"{report.popularity_excess:+.3f} "
        f"(limit {report.thresholds.popularity_excess:g})",
        "interactions on items unseen in training": rp.fmt_percent(report.unseen_item_share),
        "interactions by users new to the model": rp.fmt_percent(report.new_user_share),
        "active users who are new": rp.fmt_percent(report.new_active_user_share),
        "interactions by the busiest 10 % of users, training / recent": (
            f"{rp.fmt_percent(report.busy_share_training)} / "
            f"{rp.fmt_percent(report.busy_share_recent)}"
        ),
    }
    body = rp.key_values(drift_facts, compact=True)
    if report.top_new_items:
        body += rp.table(
            [{"item": item, "interactions": n} for item, n in report.top_new_items],
            caption="The items unseen in training with the most recent interactions: the "
            "model cannot recommend them until it is retrained.",
        )
    badges = []
    if report.popularity_drifted:
        badges.append(rp.badge("item popularity drifted", "bad"))
    if report.users_drifted:
        badges.append(rp.badge("users drifted", "bad"))
    drift = rp.Section("Items and users", body, lead=report.drift_message(), badge=" ".join(badges))
    return [served, drift]
