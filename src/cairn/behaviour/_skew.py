"""Train/serve skew and leakage: the native pipeline, the ONNX graph and the
HTTP server answer the same rows alike; a row scored alone is scored as in
a batch; test rows do not appear in training; a classifier's probabilities
are calibrated."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

import numpy as np
import pandas as pd

from cairn.behaviour._context import PERTURB_ROWS, Context, examples, skipped
from cairn.behaviour._result import CheckResult
from cairn.bundle import Model
from cairn.data.schema import Role
from cairn.data.values import as_strings
from cairn.exceptions import ServingError
from cairn.records import to_records

__all__ = ["calibration", "http_vs_bundle", "native_vs_onnx", "overlap", "single_vs_batch"]

#: Rows scored one at a time against the batch.
SINGLE_ROWS = 25
#: Rows sent to the server per request.
HTTP_CHUNK = 250
ECE_BINS = 10
#: Standard errors of sampling noise allowed on top of ``max_ece``: a
#: calibrated model's bins still miss by chance, by a lot on few rows.
ECE_NOISE_ERRORS = 2.0


def _disagreeing(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rows whose outputs differ beyond the tolerance (or in shape)."""
    tolerance = ctx.settings.skew_tolerance
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if ctx.is_clustering and a.ndim == 2 and b.ndim == 2:
        # ids and distances; memberships are NaN for clusterings by distance
        a, b = a[:, : 1 + len(ctx.model.classes)], b[:, : 1 + len(ctx.model.classes)]
    close = np.isclose(a, b, rtol=tolerance, atol=tolerance, equal_nan=True)
    return ~close.all(axis=1) if close.ndim == 2 else ~close


def _compare(
    ctx: Context, name: str, frame: pd.DataFrame, a: np.ndarray, b: np.ndarray, what: str
) -> CheckResult:
    if np.shape(a) != np.shape(b):
        return CheckResult(
            name,
            "skew",
            "failed",
            f"{what}: outputs of shape {np.shape(a)} and {np.shape(b)}",
            rows=len(frame),
        )
    bad = _disagreeing(ctx, a, b)
    diff = np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))
    largest = float(np.nanmax(diff)) if diff.size and np.isfinite(diff).any() else 0.0
    failed = bool(bad.any())
    return CheckResult(
        name,
        "skew",
        "failed" if failed else "passed",
        f"{what}: {int(bad.sum())} of {len(frame)} rows differ beyond "
        f"{ctx.settings.skew_tolerance:g} (largest difference {largest:.3g})",
        measured=largest,
        threshold=ctx.settings.skew_tolerance,
        rows=len(frame),
        details={"examples": examples(frame, bad)} if failed else {},
    )


def native_vs_onnx(ctx: Context) -> CheckResult:
    name = "skew/native_vs_onnx"
    if ctx.model.engine != "onnx":
        return skipped(name, "skew", "the model answers natively: it has no ONNX graph to compare")
    sample = ctx.sample(PERTURB_ROWS)
    native = Model(ctx.model.pipeline, ctx.model.schema, ctx.model.metadata)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = native.raw_output(sample)
    return _compare(
        ctx, name, sample, expected, ctx.output(sample), "native pipeline vs ONNX graph"
    )


def single_vs_batch(ctx: Context) -> CheckResult:
    sample = ctx.sample(PERTURB_ROWS).head(SINGLE_ROWS)
    batch = ctx.output(sample)
    alone = np.concatenate([ctx.output(sample.iloc[[i]]) for i in range(len(sample))])
    return _compare(
        ctx, "skew/single_vs_batch", sample, batch, alone, "each row alone vs in one batch"
    )


def http_vs_bundle(ctx: Context) -> CheckResult:
    """The server at ``ctx.url`` against the model in hand, on the same rows."""
    name = "skew/http_vs_bundle"
    if ctx.url is None:
        return skipped(name, "skew", "no server URL given (cairn test --url)")
    sample = ctx.sample(PERTURB_ROWS)
    answers = []
    for start in range(0, len(sample), HTTP_CHUNK):
        answers.append(_post(ctx.url, to_records(sample.iloc[start : start + HTTP_CHUNK])))
    served = _served_output(ctx, answers)
    expected = ctx.output(sample)
    if ctx.is_clustering:  # the server answers cluster ids
        expected = ctx.decisions(expected)
    return _compare(ctx, name, sample, expected, served, f"server {ctx.url} vs bundle")


def _predict_url(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("/predict") else f"{url}/predict"


def _post(url: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    target = _predict_url(url)
    headers = {"Content-Type": "application/json"}
    key = os.environ.get("CAIRN_API_KEY")
    if key:
        headers["X-API-Key"] = key
    body = json.dumps({"records": records}).encode("utf-8")
    request = urllib.request.Request(target, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            reply: dict[str, Any] = json.loads(answer.read())
    except urllib.error.HTTPError as error:
        detail = error.read()[:200].decode("utf-8", "replace")
        raise ServingError(f"{target} answered {error.code}: {detail}") from None
    except (OSError, ValueError) as error:
        raise ServingError(f"cannot reach {target} ({error}); is 'cairn serve' running?") from None
    return reply


def _served_output(ctx: Context, answers: list[dict[str, Any]]) -> np.ndarray:
    """The server's answers as the model's raw output."""
    if ctx.has_classes:
        classes = list(ctx.model.schema.classes or ())
        rows: list[list[float]] = []
        for answer in answers:
            for probabilities in answer.get("probabilities") or []:
                rows.append([float(probabilities[c]) for c in classes])
        return np.asarray(rows, dtype=float)
    values: list[float] = []
    for answer in answers:
        values += [float(v) for v in answer.get("predictions") or []]
    return np.asarray(values, dtype=float)


def overlap(ctx: Context) -> CheckResult:
    """Test rows that appear, feature for feature, among the training rows."""
    name = "skew/train_test_overlap"
    if ctx.train_rows is None:
        return skipped(name, "skew", "no training rows given to compare with")
    columns = [c.name for c in ctx.features if c.name in ctx.train_rows.columns]
    if not columns:
        return skipped(name, "skew", "the training rows hold none of the model's inputs")
    # Rows with different ids are different records (two siblings on one
    # ticket), however alike their features: only the same record is a leak.
    columns += [
        c.name
        for c in ctx.model.schema.columns
        if c.role == Role.ID and c.name in ctx.train_rows.columns and c.name in ctx.rows.columns
    ]

    def keys(frame: pd.DataFrame) -> pd.Series:
        text = pd.DataFrame({c: as_strings(frame[c]).fillna("\0") for c in columns})
        return pd.util.hash_pandas_object(text, index=False)

    seen = set(keys(ctx.train_rows).to_numpy().tolist())
    found = keys(ctx.rows).isin(seen).to_numpy()
    share = float(found.mean()) if len(found) else 0.0
    limit = ctx.settings.max_overlap_share
    failed = share > limit
    return CheckResult(
        name,
        "skew",
        "failed" if failed else "passed",
        f"{int(found.sum())} of {len(found)} rows also appear among the "
        f"{len(ctx.train_rows)} training rows",
        measured=share,
        threshold=limit,
        rows=len(found),
        details={"examples": examples(ctx.rows, found)} if failed else {},
    )


def calibration(ctx: Context, y: np.ndarray | None, proba: np.ndarray | None) -> CheckResult:
    """Expected calibration error of the top class's probability, in 10 equal bins."""
    name = "skew/calibration"
    if not ctx.has_classes:
        return skipped(name, "skew", f"a {ctx.task} model gives no probabilities to calibrate")
    if y is None or proba is None or not len(y):
        return skipped(name, "skew", "no labels to measure calibration on")
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y).astype(float)
    bins = np.minimum((confidence * ECE_BINS).astype(int), ECE_BINS - 1)
    ece = 0.0
    noise = 0.0
    table = []
    for b in range(ECE_BINS):
        mask = bins == b
        if mask.any():
            mean_confidence = float(confidence[mask].mean())
            gap = abs(float(correct[mask].mean()) - mean_confidence)
            ece += mask.mean() * gap
            # the spread of a calibrated bin's accuracy around its confidence
            noise += mask.mean() * np.sqrt(mean_confidence * (1.0 - mean_confidence) / mask.sum())
            table.append(
                {
                    "bin": b,
                    "rows": int(mask.sum()),
                    "confidence": mean_confidence,
                    "accuracy": float(correct[mask].mean()),
                }
            )
    allowance = ECE_NOISE_ERRORS * float(noise)
    limit = ctx.settings.max_ece + allowance
    return CheckResult(
        name,
        "skew",
        "failed" if ece > limit else "passed",
        f"expected calibration error {ece:.3f} over {len(y)} labelled rows (max_ece "
        f"{ctx.settings.max_ece:g} plus {allowance:.3f} for sampling noise)",
        measured=float(ece),
        threshold=limit,
        rows=len(y),
        details={"bins": table},
    )
