"""Train / test split and cross-validation folds.

The test set is held out before anything is fitted. Classification splits are
stratified, a group column keeps each group on one side, and a time column
puts the most recent rows in the test set and uses forward-chaining folds.
"""

from __future__ import annotations

from dataclasses import dataclass

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

from cairn.exceptions import DataError

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
    """

    train: pd.DataFrame
    test: pd.DataFrame
    folds: list[Fold]
    strategy: str


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
) -> SplitResult:
    """Hold out a test set and make CV folds (or one validation fold) on the rest.

    ``repeats`` shuffled k-fold partitions (None: :func:`auto_repeats`); only
    plain and stratified k-fold repeat, grouped and time-ordered folds do not.

    Raises:
        DataError: too few rows or groups for the requested split.
    """
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
    y = frame[target]
    stratify_labels = y if (task == "classification" and stratify) else None
    if stratify_labels is not None and y.value_counts().min() < 2:
        stratify_labels = None

    if time_ordered:
        assert time_column is not None
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
        train, test = train_test_split(
            frame, test_size=test_size, random_state=seed, stratify=stratify_labels
        )
        strategy = "stratified" if stratify_labels is not None else "random"
    train = train.reset_index(drop=True)
    test = test.reset_index(drop=True)

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
    return SplitResult(train=train, test=test, folds=fold_list, strategy=f"{strategy}, {shape}")


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
        fit_idx, val_idx = train_test_split(
            positions,
            test_size=validation_size,
            random_state=seed,
            stratify=y if stratify and y.value_counts().min() >= 2 else None,
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
        if task == "classification" and stratify:
            splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
            return list(splitter.split(positions, y, groups))
        return list(GroupKFold(n_splits=folds).split(positions, y, groups))
    partition: StratifiedKFold | KFold
    result: list[Fold] = []
    for repeat in range(repeats):
        if task == "classification" and stratify and int(y.value_counts().min()) >= folds:
            partition = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed + repeat)
        else:
            partition = KFold(n_splits=folds, shuffle=True, random_state=seed + repeat)
        result.extend(partition.split(positions, y))
    return result
