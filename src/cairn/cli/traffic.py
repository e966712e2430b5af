"""The load tests, the prediction log and A/B reports: ``cairn loadtest``,
``cairn logs export``, ``cairn logs prune`` and ``cairn abtest report``.

Only typer is imported here; pandas and the serving code load inside the
commands.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cairn.cli._common import console, find_spec, prediction_log_path, user_errors

if TYPE_CHECKING:
    from cairn.serving.loadtest import LoadTestResult
    from cairn.spec import Objective

logs_app = typer.Typer(help="Work with the prediction log.", no_args_is_help=True)
abtest_app = typer.Typer(
    help="Compare A/B and shadow arms on logged outcomes.", no_args_is_help=True
)


def loadtest_command(
    url: Annotated[str, typer.Argument(help="Endpoint, e.g. http://127.0.0.1:8000/predict.")],
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", help="Connections.")] = 1,
    duration: Annotated[float, typer.Option("--duration", "-d", help="Seconds measured.")] = 10.0,
    rps: Annotated[
        float | None, typer.Option(help="Send at this rate (open loop) instead of flat out.")
    ] = None,
    requests: Annotated[int | None, typer.Option(help="Stop after this many requests.")] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="Rows to send (CSV, Parquet...); default: drawn from /metadata."),
    ] = None,
    drop: Annotated[
        list[str] | None,
        typer.Option(help="Column of --data not to send (repeatable), e.g. the target."),
    ] = None,
    rows: Annotated[int, typer.Option(help="Records per request.")] = 1,
    body_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="auto, records, dataframe_records, dataframe_split, recommend or similar-items.",
        ),
    ] = "auto",
    k: Annotated[
        int | None,
        typer.Option("--k", help="/recommend, /similar-items: items asked for (default: model's)."),
    ] = None,
    warmup: Annotated[float, typer.Option(help="Seconds sent before measuring.")] = 1.0,
    objective: Annotated[
        list[str] | None,
        typer.Option(help="Latency objective to check, e.g. 'latency_p99_ms < 3' (repeatable)."),
    ] = None,
    spec: Annotated[
        Path | None,
        typer.Option(help="Take latency objectives from this spec (default ./cairn.toml)."),
    ] = None,
    api_key_env: Annotated[
        str, typer.Option(help="Environment variable holding the API key, sent when set.")
    ] = "CAIRN_API_KEY",
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the result as JSON.")
    ] = None,
) -> None:
    """Load an endpoint and report p50/p95/p99 latency, throughput and errors.

    On /recommend the users are the model's own (from /metadata, or the user
    column of --data), a tenth of them unknown to it; on /similar-items, its
    items. Requests carry 'X-Cairn-Synthetic: 1': the server logs them as synthetic,
    out of monitoring, A/B reports and exports. Exits with status 2 when a
    latency objective is not met.
    """
    with user_errors():
        from cairn.serving.loadtest import body_format_for, check_latency, endpoint_url, load_test

        url = endpoint_url(url)
        fmt = body_format_for(url) if body_format == "auto" else body_format
        headers = {}
        key = os.environ.get(api_key_env, "").strip()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        payloads = _payloads(url, data, drop, rows, fmt, headers, api_key_env, k)
        objectives = _objectives(objective, spec)
        with console.status(f"loading {url} for {duration:g}s", spinner="dots"):
            result = load_test(
                url,
                payloads,
                concurrency=concurrency,
                duration=duration,
                rps=rps,
                max_requests=requests,
                warmup=warmup,
                headers=headers,
                rows_per_request=rows,
            )
        checks = check_latency(result, objectives)
        _print_load_test(result, checks, api_key_env)
        if json_out is not None:
            _write_json(json_out, {**result.to_dict(), "objectives": checks})
        if any(not c["met"] for c in checks):
            raise typer.Exit(2)


def _payloads(
    url: str,
    data: Path | None,
    drop: list[str] | None,
    rows: int,
    fmt: str,
    headers: dict[str, str],
    api_key_env: str,
    k: int | None = None,
) -> Any:
    """Request bodies from the rows of DATA, or drawn from the endpoint's /metadata."""
    from cairn.serving.loadtest import (
        RECOMMENDATION_FORMATS,
        payloads_from_frame,
        payloads_from_metadata,
    )

    if data is not None:
        from cairn.data.sources import read_table

        frame = read_table(data)
        if fmt in RECOMMENDATION_FORMATS:
            return _recommendation_payloads(url, frame, fmt, k, headers, api_key_env)
        return payloads_from_frame(frame, rows_per_request=rows, body_format=fmt, drop=drop or ())
    return payloads_from_metadata(
        url,
        rows_per_request=rows,
        body_format=fmt,
        headers=headers,
        api_key_env=api_key_env,
        k=k,
    )


def _recommendation_payloads(
    url: str, frame: Any, fmt: str, k: int | None, headers: dict[str, str], api_key_env: str
) -> Any:
    """/recommend or /similar-items bodies for the ids in the model's user (or
    item) column of DATA, as the server's /metadata names it."""
    from cairn.exceptions import DataError
    from cairn.serving.loadtest import (
        RECOMMENDATION_FORMATS,
        fetch_metadata,
        recommendation_payloads,
    )

    settings = fetch_metadata(url, headers, api_key_env).get("recommendation") or {}
    key = RECOMMENDATION_FORMATS[fmt]
    column = settings.get(key) or key
    if column not in frame.columns:
        raise DataError(
            f"--data has no column {column!r} (the model's {key} column) to draw {key}s from; "
            f"columns: {', '.join(map(str, list(frame.columns)[:20]))}"
        )
    ids = frame[column].dropna().unique().tolist()
    return recommendation_payloads(ids, body_format=fmt, k=int(k or settings.get("k") or 10))


def _objectives(given: list[str] | None, spec: Path | None) -> list[Objective]:
    """The --objective options, else the objectives of the project's spec, if it loads."""
    from cairn.spec import Objective

    objectives = [Objective.parse(text) for text in given or ()]
    if not objectives:
        try:
            project = find_spec(spec)
        except Exception:
            project = None
        if project is not None:
            objectives = project.problem.parsed_objectives
    return objectives


def _print_load_test(
    result: LoadTestResult, checks: list[dict[str, Any]], api_key_env: str
) -> None:
    console.print(result.summary(), highlight=False, soft_wrap=True)
    if result.statuses:
        console.print(
            "statuses: "
            + ", ".join(f"{k or 'connection error'}: {v}" for k, v in result.statuses.items()),
            highlight=False,
        )
    if result.statuses.get(401):
        from cairn.serving.loadtest import api_key_hint

        console.print(f"401 answers: {api_key_hint(api_key_env)}", highlight=False)
    for check in checks:
        mark = "[green]met[/]" if check["met"] else "[red]NOT met[/]"
        console.print(f"  {check['objective']:<28} {check['value']:>10.3f}  {mark}")


def _write_json(path: Path, payload: Any) -> None:
    # Not cairn._io.write_json: these files have always rendered unknown values
    # with str() and kept NaN and infinities as JSON's NaN and Infinity.
    from cairn._io import atomic_write_text

    atomic_write_text(path, json.dumps(payload, indent=2, default=str))


@logs_app.command("export")
def logs_export(
    output: Annotated[Path, typer.Option("--output", "-o", help="Parquet or CSV file to write.")],
    log: Annotated[
        str | None,
        typer.Option(help="The log: a file or postgresql:// URL (default .cairn/predictions.db)."),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="From this time: ISO date-time, or a duration ago (24h, 7d).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Before this time (same forms).")] = None,
    arm: Annotated[str | None, typer.Option(help="Only champion, challenger or shadow.")] = None,
    model: Annotated[str | None, typer.Option(help="Only this model name.")] = None,
    include_synthetic: Annotated[
        bool,
        typer.Option(
            "--include-synthetic",
            help="Keep load-test traffic (X-Cairn-Synthetic: 1), with a 'synthetic' column.",
        ),
    ] = False,
    rejected: Annotated[
        bool,
        typer.Option(
            "--rejected",
            help="Export the rejected requests instead: request_id, ts, route, status, "
            "detail (the reason), body (its first 1000 bytes).",
        ),
    ] = False,
    spec: Annotated[Path | None, typer.Option(help="Project spec (default ./cairn.toml).")] = None,
) -> None:
    """Write logged predictions (inputs, outputs, arm, latency) to a file."""
    with user_errors():
        from cairn.exceptions import DataError
        from cairn.serving.log import export_log

        if rejected and (arm is not None or model is not None):
            raise DataError("--rejected takes no --arm or --model: rejected requests have none")
        path = prediction_log_path(find_spec(spec), log)
        count = export_log(
            path,
            output,
            since=since,
            until=until,
            arm=arm,
            model=model,
            include_synthetic=include_synthetic,
            rejected=rejected,
        )
        what = "rejected request(s)" if rejected else "logged prediction(s)"
        console.print(f"wrote {count} {what} to {output}", highlight=False)


@logs_app.command("prune")
def logs_prune(
    before: Annotated[
        str, typer.Option(help="Delete rows older than this: ISO date-time or a duration (30d).")
    ],
    log: Annotated[
        str | None,
        typer.Option(help="The log: a file or postgresql:// URL (default .cairn/predictions.db)."),
    ] = None,
    spec: Annotated[Path | None, typer.Option(help="Project spec (default ./cairn.toml).")] = None,
) -> None:
    """Delete old rows from the prediction log (export them first if you need them)."""
    with user_errors():
        from cairn.serving.log import log_display, prune_log

        path = prediction_log_path(find_spec(spec), log)
        deleted = prune_log(path, before)
        console.print(
            f"deleted {deleted} logged prediction(s) from {log_display(path)}", highlight=False
        )


@abtest_app.command("report")
def abtest_report(
    labels: Annotated[Path, typer.Option(help="Outcomes: a key column and the true label.")],
    log: Annotated[
        str | None,
        typer.Option(help="The log: a file or postgresql:// URL (default .cairn/predictions.db)."),
    ] = None,
    on: Annotated[
        list[str] | None,
        typer.Option(help="Join key(s): request_id (default, plus row) or an input column."),
    ] = None,
    label_column: Annotated[
        str | None, typer.Option(help="Column of --labels holding the outcome.")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Log window start.")] = None,
    until: Annotated[str | None, typer.Option(help="Log window end.")] = None,
    alpha: Annotated[float, typer.Option(help="Significance level.")] = 0.05,
    power: Annotated[float, typer.Option(help="Power for the rows-needed estimate.")] = 0.8,
    spec: Annotated[Path | None, typer.Option(help="Project spec (default ./cairn.toml).")] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the report as JSON.")
    ] = None,
    metric: Annotated[
        str | None, typer.Option(help="Metric to compare (default: the spec's metric).")
    ] = None,
) -> None:
    """Compare the arms on outcomes joined to the log, in the project's metric and in
    accuracy (or mean absolute error), with significance and records needed."""
    with user_errors():
        from cairn.data.sources import read_table
        from cairn.serving.abtest import compare_arms, join_outcomes
        from cairn.serving.log import read_log

        project = find_spec(spec)
        frame = read_log(prediction_log_path(project, log), since=since, until=until)
        joined = join_outcomes(frame, read_table(labels), on=on, label_column=label_column)
        task = project.problem.task if project is not None else None
        # a clustering's own metric (silhouette, ...) needs features the log lacks
        spec_metric = project.problem.metric if project and task != "clustering" else None
        chosen = metric or spec_metric
        report = compare_arms(joined, task=task, metric=chosen, alpha=alpha, power=power)
        _print_abtest(report)
        if json_out is not None:
            _write_json(json_out, report.to_dict())


def _print_abtest(report: Any) -> None:
    from rich.table import Table

    level = f"{1 - report.alpha:.0%}"
    table = Table(
        title=f"Arms on {report.labelled:,} labelled records "
        f"({report.logged:,} logged predictions, one per arm that scored a record; "
        f"{report.unlabelled:,} records without a label)"
    )
    for column in ("arm", "model", "version", "labelled records"):
        table.add_column(column, justify="right" if column == "labelled records" else "left")
    for name in report.metrics:
        table.add_column(f"{name} [{level} interval]", justify="right")
    for arm in report.arms:
        cells = []
        for name in report.metrics:
            value = arm.metrics.get(name)
            cells.append(
                "-"
                if value is None
                else f"{value.value:.4g} [{value.ci_low:.4g}, {value.ci_high:.4g}]"
            )
        table.add_row(arm.arm, arm.model, arm.version, f"{arm.n:,}", *cells)
    console.print(table)
    for c in report.comparisons:
        verdict = "not significant"
        if c.significant:
            verdict = "[green]better[/]" if c.better else "[red]worse[/]"
        needed = "∞" if c.rows_needed_per_arm == float("inf") else f"{c.rows_needed_per_arm:,.0f}"
        console.print(
            f"{c.arm} vs {c.baseline}, {c.metric}: difference {c.difference:+.4g} "
            f"({level} interval {c.ci_low:+.4g} to {c.ci_high:+.4g}), {c.test}, "
            f"{c.describe_sample()}; p = {c.p_value:.3g}: {verdict}; "
            f"records per arm to detect this difference: {needed}",
            highlight=False,
            soft_wrap=True,
        )
    for arm, rand in report.agreement.items():
        console.print(
            f"{arm} vs champion: cluster ids agree at adjusted Rand {rand:.3f} "
            "(1: the same segmentation)",
            highlight=False,
        )
