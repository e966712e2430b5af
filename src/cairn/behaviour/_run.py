"""``cairn test``: find the model (a bundle, a registry URI or a running
server), the rows (DATA, else the run's held-out test set) and the spec's
``[tests]`` settings; run the suite; write ``junit.xml``, ``behaviour.json``
and ``behaviour.html``. Also the deployment gate of ``cairn run``: the same
suite on the run's test rows, before the version may become champion."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cairn._io import write_json
from cairn.behaviour._junit import write_junit
from cairn.behaviour._report import write_report
from cairn.behaviour._result import SuiteResult
from cairn.exceptions import CairnError, DataError, ServingError

if TYPE_CHECKING:
    import pandas as pd

    from cairn.bundle import Model
    from cairn.spec import Objective, ProjectSpec, TestsSection

__all__ = [
    "DEFAULT_OUTPUT",
    "HTML_FILE",
    "JSON_FILE",
    "JUNIT_FILE",
    "gate_enabled",
    "gate_summary",
    "hold_reason",
    "run_gate",
    "run_tests",
    "test_model",
    "write_outputs",
]

JUNIT_FILE = "junit.xml"
JSON_FILE = "behaviour.json"
HTML_FILE = "behaviour.html"
#: Where results go when neither -o nor a run folder says otherwise.
DEFAULT_OUTPUT = "cairn-test"
#: The environment variable whose value is sent as the server's API key.
API_KEY_ENV = "CAIRN_API_KEY"
_TARGET = "__target"  # the true values' column in test_predictions.parquet


@dataclass
class TestRows:
    """The rows a suite runs on, with their true values when known."""

    __test__ = False  # not a pytest class

    rows: pd.DataFrame
    labels: pd.Series | None
    name: str
    run_dir: Path | None = None  # the run folder they came from


def write_outputs(
    suite: SuiteResult, folder: str | Path, *, junit: str | Path | None = None
) -> dict[str, Path]:
    """Write the JUnit XML, JSON and HTML results (each atomically) into
    ``folder``; ``junit`` puts the XML elsewhere."""
    target = Path(folder)
    try:
        return {
            "junit": write_junit(suite, Path(junit) if junit is not None else target / JUNIT_FILE),
            "json": write_json(target / JSON_FILE, suite.to_dict()),
            "html": write_report(suite, target / HTML_FILE),
        }
    except OSError as error:
        where = error.filename or target
        why = "a file is in the way" if isinstance(error, FileExistsError) else error.strerror
        raise CairnError(
            f"cannot write the test results to {where}: {why or error}; "
            "pass -o a folder (and --junit a file) that can be written"
        ) from error


def test_model(
    model: str | Path,
    data: str | Path | None = None,
    *,
    spec: ProjectSpec | str | Path | None = None,
    output_dir: str | Path | None = None,
    url: str | None = None,
    junit: str | Path | None = None,
    trust: bool = False,
) -> SuiteResult:
    """Run the behaviour tests of a trained model and write their results.

    Args:
        model: a bundle folder (or the run folder holding it),
            ``models:/NAME@ALIAS`` / ``models:/NAME/VERSION``, or the
            ``http(s)://`` address of a running ``cairn serve``: then the
            bundle it serves is found (by the source and run id its
            /metadata reports) and the checks run against the server too.
        data: a table of rows to test on (CSV, Parquet...), with the target
            column when the slice and fairness checks should run; default:
            the held-out test set of the model's run.
        spec: the project spec (``[tests]`` settings, latency objectives,
            registry); default ``./cairn.toml`` when it is the model's project.
        output_dir: where to write ``junit.xml``, ``behaviour.json`` and
            ``behaviour.html``; default the run folder when testing on its
            test set, else ``./cairn-test``.
        url: a running server of the same model to include in the checks.
        junit: write the JUnit XML here instead.
        trust: load an unsigned bundle, or one signed with another key.

    Returns:
        The suite's result; ``result.passed`` is the verdict.

    Raises:
        BundleError, RegistryError, ServingError: the model cannot be found
            or loaded, or the server does not serve it.
        DataError: the rows cannot be read, or a check names an unknown column.
        SpecError: the spec or its ``[tests]`` settings are invalid.
    """
    suite, _ = run_tests(
        model, data, spec=spec, output_dir=output_dir, url=url, junit=junit, trust=trust
    )
    return suite


def run_tests(
    model: str | Path,
    data: str | Path | None = None,
    *,
    spec: ProjectSpec | str | Path | None = None,
    output_dir: str | Path | None = None,
    url: str | None = None,
    junit: str | Path | None = None,
    trust: bool = False,
) -> tuple[SuiteResult, dict[str, Path]]:
    """:func:`test_model`, also returning the paths written."""
    reference = str(model)
    if _is_url(reference):
        if url is not None and _base_url(url) != _base_url(reference):
            raise ServingError(
                f"two servers given ({reference} and {url}); give the server once, as MODEL"
            )
        url = reference
    explicit = spec is not None
    project = _load_project(spec)
    store = _store(project)
    served = _served_metadata(url) if url is not None else None
    if served is not None and _is_url(reference):
        bundle = _served_bundle(reference, served, project, store)
    else:
        bundle = _bundle_folder(reference, store)
    loaded = _load(bundle, trust)
    if served is not None:
        _check_same_model(url, served, loaded)
    if project is not None and not explicit and project.project.name != loaded.metadata.get("name"):
        project = None  # ./cairn.toml belongs to another project
    rows = (
        _read_rows(Path(data), loaded)
        if data is not None
        else _run_test_rows(bundle, loaded, project, reference)
    )
    suite = _suite(
        loaded,
        rows,
        settings=tests_settings(project),
        model_name=reference,
        latency_ms=latency_objective_ms(_objectives(project, loaded)),
        url=_base_url(url) if url is not None else None,
    )
    folder = (
        Path(output_dir)
        if output_dir is not None
        else rows.run_dir
        if data is None and rows.run_dir is not None
        else Path.cwd() / DEFAULT_OUTPUT
    )
    return suite, write_outputs(suite, folder, junit=junit)


def tests_settings(project: ProjectSpec | None) -> TestsSection:
    """The spec's ``[tests]`` section, or its defaults without a spec."""
    if project is not None:
        return project.tests
    from cairn.spec import TestsSection

    return TestsSection()


def latency_objective_ms(objectives: list[Objective]) -> float | None:
    """The tightest upper bound of the latency objectives, in milliseconds."""
    bounds = [
        o.threshold for o in objectives if o.quantity.startswith("latency_") and o.op in ("<", "<=")
    ]
    return min(bounds) if bounds else None


def _suite(
    model: Model,
    rows: TestRows,
    *,
    settings: Any,
    model_name: str,
    latency_ms: float | None,
    url: str | None,
    train_rows: pd.DataFrame | None = None,
) -> SuiteResult:
    from cairn.behaviour.suite import run_suite

    return run_suite(
        model,
        rows.rows,
        labels=rows.labels,
        settings=settings,
        model_name=model_name,
        data_name=rows.name,
        latency_ms=latency_ms,
        url=url,
        train_rows=train_rows,
    )


# ---------------------------------------------------------------- the model


def _is_url(text: str) -> bool:
    return text.lower().startswith(("http://", "https://"))


def _base_url(url: str) -> str:
    """``scheme://host:port`` of a server address, whatever path follows."""
    text = url.strip()
    if "://" not in text:
        text = f"http://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ServingError(f"{url}: not a server address; use e.g. http://127.0.0.1:8000")
    return f"{parts.scheme}://{parts.netloc}"


def _load_project(spec: ProjectSpec | str | Path | None) -> ProjectSpec | None:
    from cairn.spec import ProjectSpec, load_spec

    if isinstance(spec, ProjectSpec):
        return spec
    if spec is not None:
        return load_spec(spec)
    default = Path("cairn.toml")
    return load_spec(default) if default.is_file() else None


def _store(project: ProjectSpec | None) -> str:
    from cairn.tracking import globals_uri, tracking_uri

    if project is None:
        return globals_uri()
    return tracking_uri(project.project_dir, project.tracking.uri)


def _bundle_folder(reference: str, store: str) -> Path:
    """The bundle behind a registry URI, or the folder given (a run folder
    stands for the bundle inside it)."""
    if reference.startswith("models:/"):
        from cairn.tracking import download_bundle

        return download_bundle(reference, tracking_uri=store)
    folder = Path(reference).expanduser()
    if (folder / "bundle" / "metadata.json").is_file():
        return folder / "bundle"
    return folder


def _load(bundle: Path, trust: bool) -> Model:
    from cairn.bundle import load_bundle

    return load_bundle(bundle, trust=trust)


def _headers() -> dict[str, str]:
    key = os.environ.get(API_KEY_ENV, "").strip()
    return {"Authorization": f"Bearer {key}"} if key else {}


def _served_metadata(url: str) -> dict[str, Any]:
    """The server's /metadata: which model and run it serves."""
    address = f"{_base_url(url)}/metadata"
    try:
        request = urllib.request.Request(address, headers=_headers())
        with urllib.request.urlopen(request, timeout=10) as answer:
            body = json.loads(answer.read())
    except urllib.error.HTTPError as error:
        hint = (
            f"; set the API key in {API_KEY_ENV}"
            if error.code == 401
            else "; is it a cairn server?"
        )
        raise ServingError(f"{address} answered {error.code}{hint}") from None
    except (OSError, ValueError) as error:
        raise ServingError(
            f"cannot read {address} ({error}); start the server with 'cairn serve' or check "
            "the address"
        ) from None
    if not isinstance(body, dict) or "schema" not in body:
        raise ServingError(f"{address} is not the /metadata of a cairn server")
    return body


def _served_bundle(
    url: str, served: dict[str, Any], project: ProjectSpec | None, store: str
) -> Path:
    """The bundle a server serves: its registry version, the folder it was
    started with, or its run's folder under the project's ``.cairn/runs``."""
    source = str(served.get("source") or "")
    name, version, run_id = served.get("name"), served.get("version"), served.get("run_id")
    candidates: list[Path] = []
    if source.startswith("models:/") and name and version:
        from cairn.tracking import download_bundle

        candidates.append(download_bundle(f"models:/{name}/{version}", tracking_uri=store))
    elif source:
        candidates.append(_bundle_folder(source, store))
    roots = [project.state_dir] if project is not None else []
    roots.append(Path.cwd() / ".cairn")
    if run_id:
        candidates += [root / "runs" / str(run_id) / "bundle" for root in roots]
    for candidate in candidates:
        if (candidate / "metadata.json").is_file() and _run_id_of(candidate) == run_id:
            return candidate
    raise ServingError(
        f"cannot find the bundle {_base_url(url)} serves (source {source or '?'}, run "
        f"{run_id or '?'}) on this machine; run 'cairn test' from its project folder, or pass "
        "the bundle as MODEL with --url"
    )


def _run_id_of(bundle: Path) -> Any:
    try:
        return json.loads((bundle / "metadata.json").read_text(encoding="utf-8")).get("run_id")
    except (OSError, ValueError):
        return None


def _check_same_model(url: str | None, served: dict[str, Any], model: Model) -> None:
    """Refuse to compare a bundle with a server of another model."""
    mine, theirs = model.metadata.get("run_id"), served.get("run_id")
    if mine != theirs:
        raise ServingError(
            f"{url} serves run {theirs or '?'}, not the bundle's run {mine or '?'}; "
            "test the server against the bundle it serves"
        )


# ---------------------------------------------------------------- the rows


def _read_rows(path: Path, model: Model) -> TestRows:
    """DATA's rows; its target column, when present, gives the true values."""
    from cairn.data.sources import read_table

    frame = read_table(path)
    target = model.schema.target or model.metadata.get("target")
    if target and target in frame.columns:
        return TestRows(
            frame.drop(columns=[target]), frame[target], f"{path} ({len(frame):,} rows)"
        )
    return TestRows(frame, None, f"{path} ({len(frame):,} rows, no {target or 'target'} column)")


def _run_test_rows(
    bundle: Path, model: Model, project: ProjectSpec | None, reference: str
) -> TestRows:
    """The held-out test rows of the model's run, from its run folder."""
    from cairn.evaluation.run_folder import load_run

    run_id = model.metadata.get("run_id")
    places = [bundle.parent]
    roots = [project.state_dir] if project is not None else []
    roots.append(Path.cwd() / ".cairn")
    if run_id:
        places += [root / "runs" / str(run_id) for root in roots]
    for place in places:
        if (place / "test_predictions.parquet").is_file() and (place / "bundle").is_dir():
            run = load_run(place)
            return TestRows(
                run.features,
                run.predictions[_TARGET],
                f"test set of run {run.run_id} ({len(run.predictions):,} rows)",
                run.path,
            )
    if not model.schema.target:
        # a clustering or a recommender keeps no labelled test rows in its run
        raise DataError(
            f"no DATA given and a {model.task} run keeps no test set to test {reference} on; "
            "pass a table of rows to test on, such as the data it was trained on"
        )
    looked = ", ".join(str(p) for p in dict.fromkeys(places))
    raise DataError(
        f"no DATA given and the test set of {reference} (run {run_id or '?'}) is not on this "
        f"machine (looked in {looked}); pass a table of rows to test on, with the "
        f"{model.schema.target or 'target'} column"
    )


def _objectives(project: ProjectSpec | None, model: Model) -> list[Objective]:
    """The spec's objectives, else those recorded in the bundle."""
    from cairn.spec import Objective

    if project is not None:
        return list(project.problem.parsed_objectives)
    parsed = []
    for entry in model.metadata.get("objectives") or []:
        try:
            parsed.append(Objective.parse(str(entry.get("objective"))))
        except (ValueError, AttributeError):
            continue
    return parsed


# ---------------------------------------------------------------- the gate


def gate_enabled(spec: ProjectSpec) -> bool:
    """Whether ``[tests] gate = true``: the suite decides who may be champion."""
    return spec.tests.gate


def run_gate(
    spec: ProjectSpec,
    run_dir: Path,
    *,
    train_rows: pd.DataFrame | None = None,
    label: str | None = None,
) -> tuple[SuiteResult, dict[str, Path]]:
    """The behaviour tests of a run's bundle on its held-out test rows, as
    ``cairn test`` runs them on that bundle.

    The results are written into the run folder and summarised in the
    bundle's metadata (``behaviour_tests``), which the model card reads.
    Returns the suite and the files written.

    Raises:
        DataError, SpecError: a check of ``[tests]`` cannot run on this data.
    """
    from cairn.bundle import update_metadata
    from cairn.evaluation.run_folder import load_run

    bundle = run_dir / "bundle"
    run = load_run(run_dir)
    model = _load(bundle, trust=False)
    rows = TestRows(
        run.features,
        run.predictions[_TARGET],
        f"test set of run {run.run_id} ({len(run.predictions):,} rows)",
        run_dir,
    )
    suite = _suite(
        model,
        rows,
        settings=tests_settings(spec),
        model_name=label or f"{spec.project.name} (run {run.run_id})",
        latency_ms=latency_objective_ms(list(spec.problem.parsed_objectives)),
        url=None,
        train_rows=train_rows,
    )
    paths = write_outputs(suite, run_dir)
    update_metadata(bundle, {"behaviour_tests": gate_summary(suite)})
    return suite, paths


def hold_reason(suite: SuiteResult) -> str | None:
    """Why a suite keeps a version from becoming champion, or None when it passed."""
    failing = [check.name for check in suite.checks if not check.ok]
    if not failing:
        return None
    shown = ", ".join(failing[:5]) + (f" and {len(failing) - 5} more" if len(failing) > 5 else "")
    return f"{len(failing)} behaviour test(s) failed ([tests] gate = true): {shown}"


def gate_summary(suite: SuiteResult) -> dict[str, Any]:
    """What the bundle's metadata keeps of a suite: the verdict, the counts
    and the checks that did not pass (their first 20)."""
    failing = [check for check in suite.checks if not check.ok]
    return {
        "passed": suite.passed,
        "summary": suite.summary(),
        "counts": {
            "passed": len(suite.by_status("passed")),
            "failed": len(suite.by_status("failed")),
            "error": len(suite.by_status("error")),
            "skipped": len(suite.by_status("skipped")),
        },
        "failing": [
            {"name": c.name, "category": c.category, "status": c.status, "message": c.message}
            for c in failing[:20]
        ],
        "data": suite.data,
        "files": [JUNIT_FILE, JSON_FILE, HTML_FILE],
    }
