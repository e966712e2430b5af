"""What ``cairn run`` prints once a run is done: the leaderboard, the
trade-off table, the test metrics, the objectives and what combining the
sources found."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from cairn.cli._common import OBJECTIVE_MARKS, console


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "-" if value != value else f"{value:.4g}"
    return str(value)


def print_result(result: Any) -> None:
    """The leaderboard, the test-set figures, the objectives and where things went."""
    _print_leaderboard(result)
    _print_tradeoff(result)
    _print_test_metrics(result)
    if result.evaluation.objectives:
        console.print("[bold]Objectives[/]")
        for objective in result.evaluation.objectives:
            mark = OBJECTIVE_MARKS[objective.met]
            console.print(f"  {objective.objective:<28} {_fmt(objective.value):>10}  {mark}")
    _print_outcome(result)


def _print_leaderboard(result: Any) -> None:
    if result.evaluation.task == "clustering":
        _print_segmentations(result)
        return
    if result.evaluation.task == "recommendation":
        _print_recommenders(result)
        return
    board = result.leaderboard
    metric = result.evaluation.metric
    table = Table(title=f"Leaderboard: cross-validated {metric}, best first")
    table.add_column("model")
    table.add_column("status")
    table.add_column("CV mean", justify="right")
    table.add_column("CV std", justify="right")
    table.add_column("fit s/fold", justify="right")
    table.add_column("predict ms/row", justify="right")
    table.add_column("reason")  # why a row is partial, pruned, skipped or failed
    for _, row in board.iterrows():
        table.add_row(
            str(row["model"]),
            str(row["status"]),
            _fmt(row[f"cv_{metric}_mean"]),
            _fmt(row[f"cv_{metric}_std"]),
            _fmt(row["fit_time_s"]),
            _fmt(row["predict_ms_per_row"]),
            str(row.get("error") or ""),
        )
    console.print(table)


def _print_tradeoff(result: Any) -> None:
    """Each measured candidate's serving figures, the front, and what the
    objectives chose on it."""
    board = result.leaderboard
    if "latency_p99_ms" not in board.columns:
        return
    measured = board[board["latency_p99_ms"].notna()]
    table = Table(title="Trade-off: each candidate on its serving engine (* on the front)")
    for name in ("model", "engine", "p50 ms", "p99 ms", "rows/s", "size MB", "cost/1k"):
        table.add_column(name, justify="left" if name in ("model", "engine") else "right")
    for _, row in measured.iterrows():
        table.add_row(
            f"{row['model']}{' *' if row['pareto'] else ''}",
            str(row["engine"]),
            *(
                _fmt(row[c])
                for c in (
                    "latency_p50_ms",
                    "latency_p99_ms",
                    "throughput_rows_s",
                    "model_size_mb",
                    "cost_per_1k",
                )
            ),
        )
    console.print(table)
    chosen = (result.model.metadata.get("tradeoff") or {}) if result.model else {}
    if chosen.get("traded"):
        console.print(f"Packaged {chosen['chosen']} (front choice): {chosen['traded']}")
    elif chosen.get("objectives") and chosen.get("chosen") is None:
        console.print("No measured candidate meets " + ", ".join(chosen["objectives"]))


def _print_segmentations(result: Any) -> None:
    """The clustering leaderboard: the chosen solution first, then by metric."""
    board = result.leaderboard
    rank_by = result.model.metadata.get("clustering", {}).get("ranked_by", "silhouette")
    table = Table(title=f"Segmentations: chosen first, then by {rank_by}")
    for name in ("", "algorithm", "k", rank_by, "stability", "weakest", "sizes", "fit s"):
        table.add_column(name, justify="left" if name in ("", "algorithm", "sizes") else "right")
    for _, row in board.head(15).iterrows():
        sizes = list(row["sizes"])
        shown = ", ".join(str(n) for n in sizes[:8]) + (", ..." if len(sizes) > 8 else "")
        table.add_row(
            "chosen" if row["chosen"] else "",
            str(row["algorithm"]),
            str(row["k"]),
            _fmt(row.get(rank_by)),
            _fmt(row["stability"]) if row["stability"] is not None else "-",
            _fmt(row["weakest_cluster"]) if row["weakest_cluster"] is not None else "-",
            shown,
            _fmt(row["fit_seconds"]),
        )
    console.print(table)
    if len(board) > 15:
        console.print(f"({len(board) - 15} more in leaderboard.csv)")


def _print_recommenders(result: Any) -> None:
    """The recommendation leaderboard: the chosen model first, validation figures."""
    board = result.leaderboard
    metric = result.evaluation.metric
    k = int(result.model.metadata.get("recommendation", {}).get("k", 10))
    wanted = ["model", metric, f"precision@{k}", f"recall@{k}", f"coverage@{k}"]
    wanted += ["train_s", "recommend_ms_per_user"]
    columns = [c for c in dict.fromkeys(wanted) if c in board]
    table = Table(title=f"Recommenders on the validation users: chosen first, then by {metric}")
    table.add_column("")
    for name in columns:
        table.add_column(name, justify="left" if name == "model" else "right")
    for _, row in board.head(15).iterrows():
        table.add_row("chosen" if row.get("chosen") else "", *(_fmt(row[name]) for name in columns))
    console.print(table)


def _print_test_metrics(result: Any) -> None:
    if result.evaluation.task == "recommendation":
        _print_recommendation_metrics(result)
        return
    clustering = result.evaluation.task == "clustering"
    rows = f"{result.evaluation.n_test} rows"
    title = f"The segmentation on all {rows}" if clustering else f"Test set ({rows})"
    metrics = Table(title=title)
    metrics.add_column("metric")
    metrics.add_column("value", justify="right")
    for key, value in result.evaluation.metrics.items():
        metrics.add_row(key, _fmt(value))
    # served latency (serving gate, over HTTP): the figure objectives are judged on
    for key, value in result.evaluation.latency_ms.items():
        metrics.add_row(f"{key} (served)", _fmt(value))
    if not result.evaluation.latency_ms:
        metrics.add_row("latency (served)", "not measured: no latency objective")
    for key, value in result.evaluation.native_latency_ms.items():
        metrics.add_row(f"{key} (in-process pipeline)", _fmt(value))
    console.print(metrics)


def _print_recommendation_metrics(result: Any) -> None:
    """The test users' figures with their intervals, the baseline margin and
    the recommend time."""
    evaluation = result.evaluation
    metadata = result.model.metadata
    intervals = metadata.get("metric_intervals") or {}
    table = Table(title=f"Test users ({evaluation.n_test:,} with a relevant item)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("95 % interval", justify="right")
    for key, value in evaluation.metrics.items():
        if key == "users":
            continue
        bounds = intervals.get(key)
        shown = f"{_fmt(bounds[0])} – {_fmt(bounds[1])}" if bounds else ""
        table.add_row(key, _fmt(value), shown)
    baseline = (metadata.get("recommendation") or {}).get("baseline") or {}
    if baseline:
        table.add_row(
            f"margin over {baseline.get('model')}",
            _fmt(baseline.get("margin")),
            f"{_fmt(baseline.get('low'))} – {_fmt(baseline.get('high'))}",
        )
    for key, value in evaluation.latency_ms.items():
        table.add_row(f"{key} (recommend, in process)", _fmt(value), "")
    console.print(table)


def _print_outcome(result: Any) -> None:
    """The model chosen, the search, the findings and the files and registry entry made."""
    metadata = result.model.metadata
    lines = {"model": str(metadata.get("model_label", metadata.get("model", "?")))}
    search = metadata.get("search") or {}
    if metadata.get("clustering"):
        lines["chosen because"] = str(metadata["clustering"].get("rule", ""))
    if metadata.get("recommendation"):
        lines["chosen because"] = str(metadata["recommendation"].get("rule", ""))
        lines["tested model learned from"] = str(metadata["recommendation"].get("tested_fit", ""))
        lines["bundle learned from"] = str(metadata["recommendation"].get("final_fit", ""))
    if search:
        phases = ", ".join(f"{k} {v:.1f}s" for k, v in search.get("phases_s", {}).items())
        lines["search"] = f"{search.get('trials', 0)} tuning trials; {phases}"
        if search.get("target_transform"):
            lines["search"] += f"; target learned as {search['target_transform']}"
    combined = _combination_lines(result.quality)
    if combined:
        lines["combining"] = combined[0]
    lines.update({"findings": result.quality.summary(), "bundle": str(result.bundle_path)})
    lines.update({name: str(path) for name, path in result.reports.items()})
    if result.tests is not None:
        lines["behaviour tests"] = result.tests.summary()
    if result.model_uri:
        alias = f" (alias @{result.alias})" if result.alias else ""
        lines["registry"] = f"{result.model_uri}{alias}"
        if getattr(result, "registry_note", None):
            lines["champion"] = str(result.registry_note)
    lines["time"] = f"{result.timings.get('total', 0):.1f}s"
    width = max(len(name) for name in lines) + 2
    for name, text in lines.items():
        # values are plain text: "[tests]" in a gate's reason is not markup
        console.print(f"{name + ':':<{width}}{text}", highlight=False, soft_wrap=True, markup=False)
    for text in combined[1:]:
        console.print(f"  {text}", highlight=False, soft_wrap=True, markup=False)
    # Errors are what a person must look at; the rest is in the reports.
    for finding in result.quality.by_severity("error"):
        if finding.check.startswith("combine_"):
            continue  # printed with the combination above
        console.print(
            f"error [{finding.check}] {finding.message}; {finding.action}",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )


def _combination_lines(quality: Any) -> list[str]:
    """What combining several sources did, and its warnings; none for one source."""
    from cairn.data.sources import Combination

    record = getattr(quality, "combination", None)
    combination = Combination.from_dict(record) if record else None
    if combination is None or combination.single:
        return []
    notes = [
        f
        for f in quality.findings
        if f.check.startswith("combine_") and f.severity in ("warning", "error")
    ]
    head = combination.summary()
    head += f"; {len(notes)} warning(s)" + (" (see below and combination.json)" if notes else "")
    return [head] + [f"{f.severity}: {f.message} — {f.action}" for f in notes]
