"""Train / test split and cross-validation folds.

The test set is held out before anything is fitted. Splits of a task that
stratifies (classification) keep each class's share, a group column keeps
each group on one side, and a time column puts the most recent rows in the
test set and uses forward-chaining folds. When the data's id columns name an
entity (a customer) that occurs on several rows, the split and the folds are
grouped by it, so that no entity is on both sides; any entity still on both
sides (a time-ordered split, another group column) is reported.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import (
    GroupKFold,
    GroupShuffleSplit,
    KFold,
    StratifiedGroupKFold,
    StratifiedKFold,
    TimeSeriesSplit,
    train_test_split,
)

from cairn.data.findings import Finding, quoted_examples
from cairn.exceptions import DataError
from cairn.tasks import get_task

Fold = tuple[np.ndarray, np.ndarray]

# On small data one k-fold partition scores configurations with a lot of
# noise, and the search then chases that noise; repeating the partition with
# other shuffles averages it out at a cost the small data can afford.
_REPEATS_BY_ROWS = ((1_000, 3), (2_500, 2))


def auto_repeats(n_rows: int) -> int:
    """How many shuffled k-fold partitions to use for ``n_rows`` training rows."""
    for limit, repeats in _REPEATS_BY_ROWS:
        if n_rows <= limit:
            return repeats
    return 1


@dataclass
class SplitResult:
    """The held-out test set and the folds on the training part.

    Attributes:
        train: rows used for model search and the final refit.
        test: rows held out for the final evaluation only.
        folds: (fit, validate) positional indices into ``train``.
        strategy: a short description, e.g. "stratified 5-fold".
        findings: how entities (``entity_columns``) were kept apart, and
            any entity on both sides of the split or of a fold.
    """

    train: pd.DataFrame
    test: pd.DataFrame
    folds: list[Fold]
    strategy: str
    findings: list[Finding] = field(default_factory=list)


def split(
    frame: pd.DataFrame,
    *,
    target: str,
    task: str,
    test_size: float = 0.2,
    folds: int = 5,
    validation_size: float | None = None,
    stratify: bool = True,
    group_column: str | None = None,
    time_column: str | None = None,
    time_ordered: bool = False,
    seed: int = 42,
    repeats: int | None = None,
    entity_columns: Sequence[str] = (),
) -> SplitResult:
    """Hold out a test set and make CV folds (or one validation fold) on the rest.

    ``repeats`` shuffled k-fold partitions (None: :func:`auto_repeats`); only
    plain and stratified k-fold repeat, grouped and time-ordered folds do not.
    ``entity_columns`` (the spec's ``data.id_columns``) name an entity: when
    one occurs on several rows and neither ``group_column`` nor a time order
    is asked for, the split and the folds are grouped by it.

    Raises:
        DataError: too few rows or groups for the requested split.
    """
    entities = _entity_codes(frame, entity_columns)
    key, grouped = "", False
    if entities is not None:
        key = _free_column("__entity", frame.columns)
        frame = frame.assign(**{key: entities})
        if group_column is None and not time_ordered:
            group_column, grouped = key, True
    _check_request(
        frame,
        folds=folds,
        validation_size=validation_size,
        group_column=group_column,
        time_column=time_column,
        time_ordered=time_ordered,
    )
    y = frame[target]
    stratify_labels = y if (get_task(task).stratify and stratify) else None
    train, test, strategy = _hold_out_test(
        frame,
        stratify_labels,
        test_size=test_size,
        group_column=group_column,
        time_column=time_column if time_ordered else None,
        seed=seed,
    )
    fold_list = make_folds(
        train,
        target=target,
        task=task,
        folds=folds,
        validation_size=validation_size,
        stratify=stratify_labels is not None,
        group_column=group_column,
        time_ordered=time_ordered,
        seed=seed,
        repeats=repeats,
    )
    n_repeats = len(fold_list) // folds if validation_size is None else 1
    shape = "holdout validation" if validation_size is not None else f"{folds}-fold CV"
    if n_repeats > 1:
        shape += f" repeated {n_repeats} times"
    result = SplitResult(train=train, test=test, folds=fold_list, strategy=f"{strategy}, {shape}")
    if entities is not None:
        result.findings = _entity_findings(result, key, entity_columns, grouped=grouped)
        result.train = train.drop(columns=[key])
        result.test = test.drop(columns=[key])
        result.strategy = result.strategy.replace(key, " + ".join(entity_columns))
    return result


def _free_column(name: str, taken: Sequence[str] | pd.Index) -> str:
    while name in set(taken):
        name += "_"
    return name


def _entity_codes(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray | None:
    """One integer per row naming its entity (a row with a missing id is an
    entity of its own), or None when no entity occurs on two rows or the
    columns are not all in ``frame``."""
    if not columns or any(c not in frame.columns for c in columns):
        return None
    codes, _ = pd.factorize(
        pd.util.hash_pandas_object(frame[list(columns)], index=False), sort=False
    )
    missing = frame[list(columns)].isna().any(axis=1).to_numpy()
    codes = codes.astype(np.int64)
    codes[missing] = codes.max(initial=0) + 1 + np.arange(int(missing.sum()))
    if len(np.unique(codes)) == len(codes):
        return None
    return codes


def _entity_findings(
    result: SplitResult, key: str, columns: Sequence[str], *, grouped: bool
) -> list[Finding]:
    """Entities on both sides of the split or of a fold (they should be on one)."""
    name = " + ".join(columns)
    train_ids, test_ids = result.train[key].to_numpy(), result.test[key].to_numpy()
    all_ids = np.concatenate([train_ids, test_ids])
    repeated = pd.Series(all_ids).value_counts()
    repeated = repeated[repeated > 1]
    findings = []
    if grouped:
        findings.append(
            Finding(
                "combine_entity_split",
                "info",
                columns[0],
                len(repeated),
                f"{len(repeated):,} {name} value(s) occur on several rows "
                f"({int(repeated.sum()):,} rows)",
                f"grouped split: the test set and every cross-validation fold keep each {name} "
                "on one side",
                True,
            )
        )
    both = np.intersect1d(train_ids, test_ids)
    in_folds = set()
    for fit, validate in result.folds:
        in_folds |= set(np.intersect1d(train_ids[fit], train_ids[validate]).tolist())
    sides = (
        ("the training and the test set", both),
        ("a fit part and its validation fold", np.array(sorted(in_folds))),
    )
    for where, shared in sides:
        if not len(shared):
            continue
        sample = result.train[columns[0]][np.isin(train_ids, shared)].tolist()
        findings.append(
            Finding(
                "combine_entity_leak",
                "warning" if "time-ordered" in result.strategy else "error",
                columns[0],
                len(shared),
                f"{len(shared):,} {name} value(s) are in both {where}, e.g. "
                f"{quoted_examples(list(dict.fromkeys(sample)))}: scores there are measured on "
                "entities the model has seen",
                "kept as the split asked (a time order or split.group_column); to keep each "
                f"{name} on one side, remove split.group_column or split.time_ordered",
                False,
            )
        )
    return findings


def _check_request(
    frame: pd.DataFrame,
    *,
    folds: int,
    validation_size: float | None,
    group_column: str | None,
    time_column: str | None,
    time_ordered: bool,
) -> None:
    """Refuse a split the data cannot give: unknown or incomplete columns, too few rows."""
    if group_column is not None and group_column not in frame.columns:
        raise DataError(
            f"split.group_column {group_column!r} is not a column of the data; "
            "set it to an existing column or remove it"
        )
    if group_column is not None and frame[group_column].isna().any():
        raise DataError(
            f"split.group_column {group_column!r} has {int(frame[group_column].isna().sum())} "
            "missing values; fill them or choose another column"
        )
    if time_ordered and (time_column is None or time_column not in frame.columns):
        raise DataError(
            f"data.time_column {time_column!r} is not a column of the data; "
            "set it to an existing column or set split.time_ordered = false"
        )
    n_splits = 1 if validation_size is not None else folds
    min_rows = max(2 * (n_splits + 1), 10)
    if len(frame) < min_rows:
        raise DataError(
            f"only {len(frame)} usable rows: too few for a test set and "
            + ("a validation fold" if validation_size is not None else f"{folds} folds")
            + f"; provide at least {min_rows} rows"
            + ("" if validation_size is not None else " or lower split.folds")
        )


def _hold_out_test(
    frame: pd.DataFrame,
    stratify_labels: pd.Series | None,
    *,
    test_size: float,
    group_column: str | None,
    time_column: str | None,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(train, test, strategy): the latest rows when ``time_column`` is given,
    whole groups when ``group_column`` is, else a (stratified) random share."""
    if time_column is not None:
        ordered = frame.assign(_order=pd.to_datetime(frame[time_column], errors="coerce"))
        ordered = ordered.sort_values("_order", kind="stable").drop(columns="_order")
        cut = int(round(len(ordered) * (1 - test_size)))
        train, test = ordered.iloc[:cut], ordered.iloc[cut:]
        strategy = "time-ordered"
    elif group_column is not None:
        splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
        train_idx, test_idx = next(splitter.split(frame, groups=frame[group_column]))
        train, test = frame.iloc[train_idx], frame.iloc[test_idx]
        strategy = f"grouped by {group_column}"
    else:
        train_idx, test_idx, stratified = _holdout(
            np.arange(len(frame)), stratify_labels, test_size=test_size, seed=seed
        )
        train, test = frame.iloc[train_idx], frame.iloc[test_idx]
        strategy = "stratified" if stratified else "random"
    return train.reset_index(drop=True), test.reset_index(drop=True), strategy


def make_folds(
    train: pd.DataFrame,
    *,
    target: str,
    task: str,
    folds: int,
    validation_size: float | None,
    stratify: bool,
    group_column: str | None,
    time_ordered: bool,
    seed: int,
    repeats: int | None = None,
) -> list[Fold]:
    """(fit, validate) positions; plain and stratified k-fold repeat
    ``repeats`` times (None: :func:`auto_repeats`) with different shuffles,
    so a row is validated once per repeat."""
    y = train[target]
    by_class = get_task(task).stratify and stratify
    repeats = auto_repeats(len(train)) if repeats is None else repeats
    positions = np.arange(len(train))
    if validation_size is not None:
        if time_ordered:
            cut = int(round(len(train) * (1 - validation_size)))
            return [(positions[:cut], positions[cut:])]
        if group_column is not None:
            splitter = GroupShuffleSplit(n_splits=1, test_size=validation_size, random_state=seed)
            fit_idx, val_idx = next(splitter.split(positions, groups=train[group_column]))
            return [(np.sort(fit_idx), np.sort(val_idx))]
        fit_idx, val_idx, _ = _holdout(
            positions, y if stratify else None, test_size=validation_size, seed=seed
        )
        return [(np.sort(fit_idx), np.sort(val_idx))]
    if time_ordered:
        return list(TimeSeriesSplit(n_splits=folds).split(positions))
    if group_column is not None:
        groups = train[group_column]
        n_groups = groups.nunique()
        if n_groups < folds:
            raise DataError(
                f"split.group_column {group_column!r} has {n_groups} groups in the training "
                f"part, fewer than split.folds = {folds}; lower folds or choose another column"
            )
        if by_class:
            splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
            return list(splitter.split(positions, y, groups))
        return list(GroupKFold(n_splits=folds).split(positions, y, groups))
    partition: StratifiedKFold | KFold
    result: list[Fold] = []
    # Stratified as far as the counts allow: a class with fewer rows than
    # folds has its rows spread over different validation folds (the quality
    # report warns about it), so most folds train on it.
    stratified = by_class and int(y.value_counts().max()) >= folds
    for repeat in range(repeats):
        if stratified:
            partition = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed + repeat)
        else:
            partition = KFold(n_splits=folds, shuffle=True, random_state=seed + repeat)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The least populated class in y has only")
            result.extend(partition.split(positions, y))
    return result


def _holdout(
    positions: np.ndarray, labels: pd.Series | None, *, test_size: float, seed: int
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Split ``positions`` into (kept, held out, stratified?).

    With ``labels``, the split is stratified; a class with a single row
    cannot be on both sides, so its row stays on the kept side (a model can
    learn it; a test score of one row says little). When stratifying is
    impossible (more classes than held-out rows) the split is random.
    """
    if labels is None:
        kept, held = train_test_split(positions, test_size=test_size, random_state=seed)
        return kept, held, False
    values = labels.to_numpy()
    counts = labels.value_counts()
    single = np.isin(values, counts[counts < 2].index.to_numpy())
    splittable = positions[~single]
    try:
        kept, held = train_test_split(
            splittable, test_size=test_size, random_state=seed, stratify=values[~single]
        )
        stratified = True
    except ValueError:  # e.g. fewer held-out rows than classes
        kept, held = train_test_split(splittable, test_size=test_size, random_state=seed)
        stratified = False
    return np.concatenate([kept, positions[single]]), held, stratified
