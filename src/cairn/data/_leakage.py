"""Target leakage: features that alone nearly determine the target.

Before the search, each candidate feature gets a one-feature model scored by
cross-validation on a sample of rows, in the task's terms: balanced accuracy
and ROC-AUC for a class target, R² for a numeric one, plus the rank
correlation of a numeric feature with a numeric target (a near-copy under a
monotone transform or multiplicative noise). A feature that alone scores
near-perfectly is a leakage suspect: excluded from the features unless the
spec keeps it (``allow_leakage``). A datetime feature later than the time
column in most rows is reported too.

After the search, :func:`after_search_findings` compares the final model's
test score with each feature's one-feature score on the same split, and looks
for features that alone tell the test rows from the training rows.

The one-feature model of a number (or date) is a small decision tree; that of
a category is its table of per-value target frequencies (or means), which is
the best any model can do with that column alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cairn.data.findings import Finding
from cairn.data.schema import ColumnSchema, Role, Schema
from cairn.data.values import as_strings, is_numeric_dtype
from cairn.tasks import Task

# Thresholds, named so that reports and tests can refer to them.
# Before the search: one feature alone is a suspect when, on held-out folds,
SUSPECT_BALANCED_ACCURACY = 0.97  # class target: balanced accuracy at least this ...
SUSPECT_AUC = 0.97  # ... and ROC-AUC at least this (both: near-perfect on every class)
SUSPECT_R2 = 0.97  # numeric target: R² of the one-feature model at least this ...
SUSPECT_SPEARMAN = 0.97  # ... or |rank correlation| with the target at least this
# After the search: the final model is "as good as one column alone" when
STRONG_AUC = 0.90  # it is strong (test ROC-AUC, class target) ...
STRONG_R2 = 0.80  # ... (test R², numeric target) ...
CLOSE_MARGIN = 0.02  # ... and a one-feature model on the same split is within this margin.
FUTURE_SHARE = 0.5  # a date feature later than the time column in more rows than this
SEPARATION_AUC = 0.99  # one feature tells test rows from training rows this well

LEAKAGE_SAMPLE = 20_000  # rows scored (a random sample of larger tables)
LEAKAGE_FOLDS = 3
LEAKAGE_BINS = 20  # quantile bins of a number in the wide-table screen
SCREEN_ABOVE = 100  # more candidate columns than this are screened first ...
SCREEN_SCORE = 0.8  # ... keeping those whose in-sample lookup score reaches this
_TREE_LEAVES = 64
_MIN_ROWS = 30

_CANDIDATE_ROLES = (Role.NUMERIC, Role.CATEGORICAL, Role.BOOLEAN, Role.DATETIME)


@dataclass(frozen=True)
class FeatureScore:
    """What one feature alone achieves on held-out rows."""

    column: str
    balanced_accuracy: float | None = None  # class target
    auc: float | None = None  # class target
    r2: float | None = None  # numeric target
    spearman: float | None = None  # numeric feature and numeric target
    # Class target: share of the target's entropy the feature removes on
    # held-out rows (a held-out normalised mutual information); reported.
    information: float | None = None

    @property
    def suspect(self) -> bool:
        if self.balanced_accuracy is not None and self.auc is not None:
            return self.balanced_accuracy >= SUSPECT_BALANCED_ACCURACY and self.auc >= SUSPECT_AUC
        return (self.r2 or 0.0) >= SUSPECT_R2 or abs(self.spearman or 0.0) >= SUSPECT_SPEARMAN

    def describe(self) -> str:
        if self.balanced_accuracy is not None:
            return (
                f"balanced accuracy {self.balanced_accuracy:.3f}, "
                f"ROC-AUC {self.auc if self.auc is not None else float('nan'):.3f}, "
                f"normalised mutual information {self.information or 0.0:.2f}"
            )
        parts = [f"R² {self.r2:.3f}"] if self.r2 is not None else []
        if self.spearman is not None:
            parts.append(f"|rank correlation| {abs(self.spearman):.3f}")
        return ", ".join(parts)


def leakage_findings(
    frame: pd.DataFrame,
    schema: Schema,
    task: Task,
    *,
    allow: Sequence[str] = (),
    time_column: str | None = None,
) -> tuple[list[Finding], list[str]]:
    """Leakage suspects before the search, and the columns to exclude.

    Returns the findings and the names of suspects not in ``allow`` (the
    caller sets their role to ``ignore``).
    """
    target = schema.target
    assert target is not None
    findings = _future_time_findings(frame, schema, time_column)
    candidates = [c for c in schema.columns if c.role in _CANDIDATE_ROLES]
    if not candidates or len(frame) < _MIN_ROWS:
        return findings, []
    sample = frame
    if len(frame) > LEAKAGE_SAMPLE:
        sample = frame.sample(n=LEAKAGE_SAMPLE, random_state=0)
    if len(candidates) > SCREEN_ABOVE:
        candidates = _screened(sample, target, candidates, task)
    scores = one_feature_scores(sample, target, candidates, task)
    excluded: list[str] = []
    for score in scores:
        if not score.suspect:
            continue
        kept = score.column in allow
        if not kept:
            excluded.append(score.column)
        findings.append(_suspect_finding(score, target, len(frame), kept=kept))
    return findings, excluded


def _screened(
    sample: pd.DataFrame, target: str, candidates: Sequence[ColumnSchema], task: Task
) -> list[ColumnSchema]:
    """The candidates worth a cross-validated model on a wide table: those
    whose in-sample score from value (or quantile-bin) lookups reaches
    :data:`SCREEN_SCORE`. In-sample lookups flatter a feature, so a near-copy
    always passes; the cross-validated score then decides."""
    if task.has_classes:
        labels, _ = pd.factorize(as_strings(sample[target]).astype(str))
        return _screen(sample, candidates, labels, None, SCREEN_SCORE)
    y = pd.to_numeric(sample[target], errors="coerce").to_numpy(dtype=float)
    return _screen(sample, candidates, None, y, SCREEN_SCORE)


def _screen(
    frame: pd.DataFrame,
    candidates: Sequence[ColumnSchema],
    labels: np.ndarray | None,
    y: np.ndarray | None,
    at_least: float,
) -> list[ColumnSchema]:
    """The candidates whose in-sample lookup score of ``labels`` (class codes,
    -1 unknown: balanced accuracy) or ``y`` (numbers, NaN unknown: R² or
    |rank correlation|) reaches ``at_least``."""
    if labels is not None:
        known = labels >= 0
    else:
        assert y is not None
        known = ~np.isnan(y)
    kept = []
    for column in candidates:
        keys = _lookup_keys(frame[column.name], column)[known]
        if labels is not None:
            score = _in_sample_balanced_accuracy(keys, labels[known])
        else:
            assert y is not None
            score = _in_sample_r2(keys, y[known])
            if keys.max() > LEAKAGE_BINS:  # many values: ranks may tell more than bins
                score = max(score, _rank_correlation(frame[column.name], column, y, known))
        if score >= at_least:
            kept.append(column)
    return kept


def _lookup_keys(values: pd.Series, column: ColumnSchema) -> np.ndarray:
    """Each row's value code, numbers cut into :data:`LEAKAGE_BINS` quantile bins."""
    matrix = _feature_matrix(values, column)
    if isinstance(matrix, np.ndarray):
        numbers = matrix[:, 0]
        ranks = pd.Series(numbers).rank(method="dense").to_numpy()
        top = np.nanmax(ranks) if np.isfinite(ranks).any() else 1.0
        bins = np.floor((ranks - 1) / max(top, 1.0) * LEAKAGE_BINS)
        return np.where(np.isnan(bins), -1, bins).astype(np.int64) + 1
    codes, _ = pd.factorize(matrix)
    return codes.astype(np.int64) + 1


def _in_sample_balanced_accuracy(keys: np.ndarray, labels: np.ndarray) -> float:
    n_keys, n_labels = int(keys.max()) + 1, int(labels.max()) + 1
    table = np.bincount(keys * n_labels + labels, minlength=n_keys * n_labels)
    predicted = table.reshape(n_keys, n_labels).argmax(axis=1)[keys]
    recalls = [np.mean(predicted[labels == k] == k) for k in range(n_labels) if (labels == k).any()]
    return float(np.mean(recalls))


def _rank_correlation(
    values: pd.Series, column: ColumnSchema, y: np.ndarray, known: np.ndarray
) -> float:
    matrix = _feature_matrix(values, column)
    if not isinstance(matrix, np.ndarray):
        return 0.0
    both = pd.DataFrame({"x": matrix[:, 0][known], "y": y[known]}).dropna()
    if len(both) < _MIN_ROWS:
        return 0.0
    rho = both["x"].rank().corr(both["y"].rank())
    return 0.0 if pd.isna(rho) else abs(float(rho))


def _in_sample_r2(keys: np.ndarray, y: np.ndarray) -> float:
    sums = np.bincount(keys, weights=y)
    counts = np.bincount(keys)
    means = sums / np.maximum(counts, 1)
    total = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(((y - means[keys]) ** 2).sum()) / total if total > 0 else 0.0


def one_feature_scores(
    sample: pd.DataFrame, target: str, candidates: Sequence[ColumnSchema], task: Task
) -> list[FeatureScore]:
    """Cross-validated score of a one-feature model for each candidate."""
    folds = _fold_ids(sample[target], task, len(sample))
    if task.has_classes:
        codes, _ = pd.factorize(as_strings(sample[target]).astype(str))
        if len(np.unique(codes)) < 2:
            return []
        return [_class_score(column, sample[column.name], codes, folds) for column in candidates]
    y = pd.to_numeric(sample[target], errors="coerce").to_numpy(dtype=float)
    known = ~np.isnan(y)
    if known.sum() < _MIN_ROWS or np.nanstd(y) == 0:
        return []
    return [
        _numeric_score(column, sample[column.name][known], y[known], folds[known])
        for column in candidates
    ]


def _fold_ids(y: pd.Series, task: Task, n: int) -> np.ndarray:
    """Fold number of each row: stratified for classes, shuffled otherwise."""
    rng = np.random.default_rng(0)
    order = rng.permutation(n)
    if task.has_classes:
        # Rows of each class dealt round-robin, so every fold sees every class.
        codes, _ = pd.factorize(as_strings(y).astype(str))
        order = order[np.argsort(codes[order], kind="stable")]
    folds = np.empty(n, dtype=np.int64)
    folds[order] = np.arange(n) % LEAKAGE_FOLDS
    return folds


def _feature_matrix(values: pd.Series, column: ColumnSchema) -> np.ndarray | pd.Series:
    """Numbers as a float column (dates as seconds), categories as text keys."""
    if column.role == Role.DATETIME or pd.api.types.is_datetime64_any_dtype(values):
        stamps = pd.to_datetime(values, errors="coerce")
        seconds = stamps.astype("int64").to_numpy(dtype=float) / 1e9
        return np.where(stamps.isna().to_numpy(), np.nan, seconds).reshape(-1, 1)
    if column.role == Role.NUMERIC and is_numeric_dtype(values):
        return values.to_numpy(dtype=float, na_value=np.nan).reshape(-1, 1)
    return as_strings(values).fillna("<missing>").astype(str).reset_index(drop=True)


def _class_score(
    column: ColumnSchema, values: pd.Series, codes: np.ndarray, folds: np.ndarray
) -> FeatureScore:
    proba = _out_of_fold_proba(_feature_matrix(values, column), codes, folds)
    # AUC per fold, averaged: each fold's model has its own probability scale.
    aucs = [class_auc(codes[folds == k], proba[folds == k]) for k in range(LEAKAGE_FOLDS)]
    known = [auc for auc in aucs if auc is not None]
    return FeatureScore(
        column.name,
        balanced_accuracy=_balanced_accuracy(codes, proba.argmax(axis=1)),
        auc=float(np.mean(known)) if known else None,
        information=_information_share(codes, proba),
    )


def _information_share(codes: np.ndarray, proba: np.ndarray) -> float:
    """1 - held-out cross-entropy / entropy of the classes: 0 for a column
    that says nothing about the target, 1 for an exact copy."""
    shares = np.bincount(codes) / len(codes)
    entropy = float(-np.sum(shares[shares > 0] * np.log(shares[shares > 0])))
    if entropy == 0.0:
        return 0.0
    likely = np.clip(proba[np.arange(len(codes)), codes], 1e-12, 1.0)
    return max(0.0, 1.0 - float(-np.mean(np.log(likely))) / entropy)


def _balanced_accuracy(codes: np.ndarray, predicted: np.ndarray) -> float:
    """Mean recall over the classes present."""
    recalls = [float(np.mean(predicted[codes == k] == k)) for k in np.unique(codes)]
    return float(np.mean(recalls))


def class_auc(codes: np.ndarray, proba: np.ndarray) -> float | None:
    """ROC-AUC of class probabilities: one-vs-rest, averaged over the classes
    for more than two; None when fewer than two classes are present."""
    if proba.shape[1] == 2:
        return _binary_auc(codes == 1, proba[:, 1])
    scores = [_binary_auc(codes == k, proba[:, k]) for k in range(proba.shape[1])]
    known = [score for score in scores if score is not None]
    return float(np.mean(known)) if known else None


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float | None:
    """The Mann-Whitney form of ROC-AUC (ties count one half)."""
    from scipy.stats import rankdata

    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _out_of_fold_proba(
    x: np.ndarray | pd.Series, codes: np.ndarray, folds: np.ndarray
) -> np.ndarray:
    n_labels = int(codes.max()) + 1
    proba = np.zeros((len(codes), n_labels))
    for k in range(LEAKAGE_FOLDS):
        fit, held = folds != k, folds == k
        proba[held] = _fit_predict_proba(x, codes, fit, held, n_labels)
    return proba


def _fit_predict_proba(
    x: np.ndarray | pd.Series,
    codes: np.ndarray,
    fit: np.ndarray,
    held: np.ndarray,
    n_labels: int,
) -> np.ndarray:
    """Class probabilities of ``held`` rows from a one-feature model of ``fit`` rows."""
    prior = (np.bincount(codes[fit], minlength=n_labels) + 1.0) / (int(fit.sum()) + n_labels)
    if isinstance(x, pd.Series):
        keys, _ = pd.factorize(x)
        n_keys = int(keys.max()) + 1
        counts = np.zeros((n_keys, n_labels))
        np.add.at(counts, (keys[fit], codes[fit]), 1.0)
        # A value seen a few times leans on the overall class shares.
        table = (counts + prior) / (counts.sum(axis=1, keepdims=True) + 1.0)
        return np.asarray(table[keys[held]])
    from sklearn.tree import DecisionTreeClassifier

    tree = DecisionTreeClassifier(
        max_leaf_nodes=_TREE_LEAVES, min_samples_leaf=_min_leaf(int(fit.sum())), random_state=0
    )
    tree.fit(x[fit], codes[fit])
    out = np.tile(prior, (int(held.sum()), 1))
    out[:, tree.classes_] = tree.predict_proba(x[held])
    return out


def _min_leaf(n_fit: int) -> int:
    return max(3, n_fit // 1000)


def _numeric_score(
    column: ColumnSchema, values: pd.Series, y: np.ndarray, folds: np.ndarray
) -> FeatureScore:
    x = _feature_matrix(values, column)
    predicted = np.zeros(len(y))
    for k in range(LEAKAGE_FOLDS):
        fit, held = folds != k, folds == k
        predicted[held] = _fit_predict_value(x, y, fit, held)
    r2 = 1.0 - float(np.sum((y - predicted) ** 2)) / float(np.sum((y - y.mean()) ** 2))
    spearman = None
    if isinstance(x, np.ndarray):
        spearman = _spearman(x[:, 0], y)
    return FeatureScore(column.name, r2=r2, spearman=spearman)


def _fit_predict_value(
    x: np.ndarray | pd.Series, y: np.ndarray, fit: np.ndarray, held: np.ndarray
) -> np.ndarray:
    """Predicted target of ``held`` rows from a one-feature model of ``fit`` rows."""
    if isinstance(x, pd.Series):
        means = pd.Series(y[fit]).groupby(x[fit].to_numpy()).mean()
        guess = x[held].map(means).to_numpy(dtype=float)
        return np.where(np.isnan(guess), float(y[fit].mean()), guess)
    from sklearn.tree import DecisionTreeRegressor

    tree = DecisionTreeRegressor(
        max_leaf_nodes=_TREE_LEAVES, min_samples_leaf=_min_leaf(int(fit.sum())), random_state=0
    )
    tree.fit(x[fit], y[fit])
    return np.asarray(tree.predict(x[held]), dtype=float)


def _spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    both = ~np.isnan(x) & ~np.isnan(y)
    if both.sum() < _MIN_ROWS:
        return None
    rx = pd.Series(x[both]).rank().to_numpy()
    ry = pd.Series(y[both]).rank().to_numpy()
    if np.std(rx) == 0 or np.std(ry) == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def _suspect_finding(score: FeatureScore, target: str, rows: int, *, kept: bool) -> Finding:
    column = score.column
    message = (
        f"possible target leakage: column {column!r} alone predicts {target!r} almost "
        f"perfectly on held-out rows ({score.describe()}, {LEAKAGE_FOLDS}-fold, one-feature "
        "model); a column that nearly copies the target is usually recorded after the outcome"
    )
    if kept:
        return Finding(
            "leakage_suspect",
            "warning",
            column,
            rows,
            message,
            f"kept as a feature because data.allow_leakage names {column!r}",
            False,
        )
    return Finding(
        "leakage_suspect",
        "error",
        column,
        rows,
        message,
        f"excluded from the features (role 'ignore'); if {column!r} is known when "
        f'predicting, keep it with allow_leakage = ["{column}"] under [data]',
        True,
    )


def _future_time_findings(
    frame: pd.DataFrame, schema: Schema, time_column: str | None
) -> list[Finding]:
    """Date features later than the row's time column in most rows."""
    if time_column is None or time_column not in frame.columns:
        return []
    event = pd.to_datetime(frame[time_column], errors="coerce")
    findings: list[Finding] = []
    for column in schema.columns:
        if column.role != Role.DATETIME or column.name == time_column:
            continue
        stamps = pd.to_datetime(frame[column.name], errors="coerce")
        both = stamps.notna() & event.notna()
        if not both.any():
            continue
        later = int((stamps[both] > event[both]).sum())
        if later <= FUTURE_SHARE * int(both.sum()):
            continue
        findings.append(
            Finding(
                "leakage_future_time",
                "warning",
                column.name,
                later,
                f"date column {column.name!r} is later than the time column {time_column!r} "
                f"in {later} of {int(both.sum())} rows ({later / int(both.sum()):.0%}): it may "
                "hold information from after the event being predicted",
                f"kept; if {column.name!r} is not known when predicting, set "
                f'roles = {{ "{column.name}" = "ignore" }} under [data]',
                False,
            )
        )
    return findings


def after_search_findings(
    train: pd.DataFrame,
    y_train: np.ndarray,
    test: pd.DataFrame,
    y_test: np.ndarray,
    output: np.ndarray,
    schema: Schema,
    task: Task,
    *,
    exclude: Sequence[str] = (),
) -> list[Finding]:
    """Leakage signs once the final model and the split are known.

    ``y_train``/``y_test`` are class codes (classes) or numbers, ``output``
    the final model's test output (class probabilities, or predictions).
    Reports features whose one-feature model, fitted on the training rows,
    scores within :data:`CLOSE_MARGIN` of a strong final model on the test
    rows, and features that alone tell test rows from training rows. Columns
    in ``exclude`` (the time or group column the split used) are not tested
    for separation: the split made them differ on purpose.
    """
    candidates = [c for c in schema.columns if c.is_feature and c.role in _CANDIDATE_ROLES]
    if not candidates or len(train) < _MIN_ROWS or len(test) < _MIN_ROWS:
        return []
    rng = np.random.default_rng(0)
    fit_rows = _sample_positions(len(train), rng)
    held_rows = _sample_positions(len(test), rng)
    fit_part, held_part = train.iloc[fit_rows], test.iloc[held_rows]
    close = candidates
    separating = [c for c in candidates if c.name not in set(exclude)]
    if len(candidates) > SCREEN_ABOVE:
        # Wide table: cross-validated models only for columns whose in-sample
        # lookups come near the model (a looser bar than before the search,
        # the final model may be weak) or near telling the two sides apart.
        labels = y_train[fit_rows].astype(np.int64) if task.has_classes else None
        numbers = None if task.has_classes else y_train[fit_rows].astype(float)
        close = _screen(fit_part, candidates, labels, numbers, SCREEN_SCORE - 0.1)
        both = pd.concat([fit_part, held_part], ignore_index=True)
        side = np.r_[np.zeros(len(fit_part), np.int64), np.ones(len(held_part), np.int64)]
        separating = _screen(both, separating, side, None, SCREEN_SCORE)
    findings = _close_to_model(
        fit_part,
        y_train[fit_rows],
        held_part,
        y_test[held_rows],
        output[held_rows],
        close,
        task,
    )
    findings += _test_separation(fit_part, held_part, separating, len(test))
    return findings


def _sample_positions(n: int, rng: np.random.Generator) -> np.ndarray:
    if n <= LEAKAGE_SAMPLE:
        return np.arange(n)
    return np.sort(rng.choice(n, LEAKAGE_SAMPLE, replace=False))


def _close_to_model(
    train: pd.DataFrame,
    y_train: np.ndarray,
    test: pd.DataFrame,
    y_test: np.ndarray,
    output: np.ndarray,
    candidates: Sequence[ColumnSchema],
    task: Task,
) -> list[Finding]:
    """Features that alone score within the margin of a strong final model."""
    fit = np.r_[np.ones(len(train), dtype=bool), np.zeros(len(test), dtype=bool)]
    if task.has_classes:
        codes = np.r_[y_train, y_test].astype(np.int64)
        n_labels = max(int(codes.max()) + 1, output.shape[1])
        final = class_auc(y_test.astype(np.int64), output)
        strong, measure = STRONG_AUC, "ROC-AUC"
    else:
        values = np.r_[y_train, y_test].astype(float)
        final = _r2(y_test.astype(float), output.astype(float))
        strong, measure = STRONG_R2, "R²"
    if final is None or final < strong:
        return []
    findings: list[Finding] = []
    for column in candidates:
        x = _feature_matrix(pd.concat([train[column.name], test[column.name]]), column)
        if task.has_classes:
            proba = _fit_predict_proba(x, codes, fit, ~fit, n_labels)
            alone = class_auc(y_test.astype(np.int64), proba)
        else:
            alone = _r2(y_test.astype(float), _fit_predict_value(x, values, fit, ~fit))
        if alone is None or alone < final - CLOSE_MARGIN:
            continue
        findings.append(
            Finding(
                "leakage_close_to_model",
                "warning",
                column.name,
                len(test),
                f"the model is about as good as column {column.name!r} alone: test {measure} "
                f"{final:.3f} for the model, {alone:.3f} for a one-feature model of "
                f"{column.name!r} (margin {CLOSE_MARGIN}); if {column.name!r} is recorded "
                "after the outcome, the model will not score this well in use",
                f"kept; check that {column.name!r} is known when predicting, or set "
                f'roles = {{ "{column.name}" = "ignore" }} under [data]',
                False,
            )
        )
    return findings


def _r2(truth: np.ndarray, predicted: np.ndarray) -> float | None:
    total = float(np.sum((truth - truth.mean()) ** 2))
    if total == 0.0:
        return None
    return 1.0 - float(np.sum((truth - predicted) ** 2)) / total


def _test_separation(
    train: pd.DataFrame, test: pd.DataFrame, candidates: Sequence[ColumnSchema], n_test: int
) -> list[Finding]:
    """Features that alone tell the test rows from the training rows
    (adversarial validation, one feature at a time, cross-validated)."""
    side = np.r_[np.zeros(len(train), dtype=np.int64), np.ones(len(test), dtype=np.int64)]
    folds = np.empty(len(side), dtype=np.int64)
    rng = np.random.default_rng(1)
    for part in (side == 0, side == 1):
        positions = np.flatnonzero(part)
        folds[rng.permutation(positions)] = np.arange(len(positions)) % LEAKAGE_FOLDS
    findings: list[Finding] = []
    for column in candidates:
        x = _feature_matrix(pd.concat([train[column.name], test[column.name]]), column)
        auc = _binary_auc(side == 1, _out_of_fold_proba(x, side, folds)[:, 1])
        if auc is None or auc < SEPARATION_AUC:
            continue
        findings.append(
            Finding(
                "leakage_test_separation",
                "warning",
                column.name,
                n_test,
                f"column {column.name!r} alone tells the {n_test} test rows from the training "
                f"rows (ROC-AUC {auc:.3f}, one-feature model, {LEAKAGE_FOLDS}-fold): its values "
                "differ between the two sides of the split, so the test score may not say how "
                "the model does on new data",
                f"kept; check how {column.name!r} was recorded (a batch number, a date of "
                "export), ignore it, or split on it with split.group_column",
                False,
            )
        )
    return findings
