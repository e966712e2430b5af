"""The evaluation report's trade-off section: every measured candidate's
cross-validated metric against its serving latency and its size, with the
Pareto front, the cost table and, when the spec's objectives chose on the
front, what the choice traded."""

from __future__ import annotations

import cairn.reporting as rp
from cairn.evaluation.run_folder import RunFolder
from cairn.tasks import greater_is_better

_SHOWN = {
    "model": "model",
    "engine": "engine",
    "latency_p50_ms": "p50 ms",
    "latency_p99_ms": "p99 ms",
    "throughput_rows_s": "batch rows/s",
    "model_size_mb": "size MB",
    "memory_mb": "memory MB",
    "train_s": "training s",
    "cost_per_1k": "cost / 1,000 predictions",
    "cost_per_training": "cost / training",
    "pareto": "on the front",
}


def tradeoff_section(run: RunFolder) -> rp.Section | None:
    """The section, or None when the run measured no candidate."""
    board = run.leaderboard
    if board.empty or "latency_p99_ms" not in board.columns:
        return None
    metric = run.metric
    score = f"cv_{metric}_mean"
    measured = board[board["latency_p99_ms"].notna()].reset_index(drop=True)
    if measured.empty:
        return None
    summary = run.metadata.get("tradeoff") or {}
    packaged = str(summary.get("model") or run.metadata.get("model") or "")
    higher = greater_is_better(metric)
    on_front = measured["pareto"].astype(bool).to_numpy()
    names = [str(m) for m in measured["model"]]
    charts = [
        rp.front(
            measured[cost].to_numpy(dtype=float),
            measured[score].to_numpy(dtype=float),
            names,
            on_front,
            title=f"{metric} against {what}",
            x_title=axis,
            y_title=f"CV {metric}",
            higher_is_better=higher,
            log_x=True,
            marked=packaged,
        )
        for cost, what, axis in (
            (
                "latency_p99_ms",
                "single-record p99 latency",
                "p99 latency, ms (serving engine, one record per call)",
            ),
            ("model_size_mb", "model size", "serialized model the engine loads, MB"),
        )
    ]
    columns = [c for c in _SHOWN if c in measured.columns]
    table = measured[[*columns[:1], score, *columns[1:]]].rename(
        columns={**_SHOWN, score: f"CV {metric}"}
    )
    body = rp.grid(*(str(c) for c in charts), min_width=420) + rp.table(
        table,
        caption=f"Cost at {summary.get('cpu_hour', 0.05):g} per CPU hour ([cost] cpu_hour): "
        "per 1,000 predictions from the mean single-record time, per training from the "
        "time to train the model as packaged. Memory: resident memory added by loading the model.",
    )
    body += _choice_note(summary, packaged)
    unmeasured = len(board[board["status"].isin(["ok", "partial"])]) - len(measured)
    if unmeasured > 0:
        body += rp.note(
            f"{unmeasured} scored candidate(s) not measured: the measurement's share of the "
            "time budget ran out.",
            "muted",
        )
    return rp.Section(
        "Trade-off: accuracy, latency, size and cost",
        body,
        id="tradeoff",
        lead="Each candidate measured on the engine it would be served with; the front holds "
        "those no other candidate beats on the metric, p99 latency and size at once.",
    )


def _choice_note(summary: dict[str, object], packaged: str) -> str:
    objectives = summary.get("objectives") or []
    if not objectives:
        return ""
    bounds = ", ".join(str(o) for o in objectives) if isinstance(objectives, list) else ""
    if summary.get("chosen") is None:
        return rp.note(f"No measured candidate meets {bounds}; the best one is packaged.", "bad")
    traded = summary.get("traded")
    if traded:
        return rp.note(f"{bounds} chose {packaged} on the front: {traded}.")
    return rp.note(f"The best candidate, {packaged}, meets {bounds}.")
