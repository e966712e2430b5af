"""Ground truth for monitoring: labels joined to the predictions they
belong to by request id (the prediction log's ``request_id``) or by an entity
key (``[monitoring] key``), and class labels coded as the model's classes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from cairn.data.schema import as_strings, normalize_missing
from cairn.exceptions import DataError

__all__ = ["JoinStats", "encode_labels", "join_labels"]


@dataclass(frozen=True)
class JoinStats:
    """How labels matched predictions."""

    key: tuple[str, ...]
    predictions: int
    labels: int
    matched: int

    @property
    def unmatched_predictions(self) -> int:
        return self.predictions - self.matched

    @property
    def unmatched_labels(self) -> int:
        return self.labels - self.matched


def join_labels(
    predictions: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    key: Sequence[str],
    target: str,
    how: Literal["inner", "left"] = "inner",
) -> tuple[pd.DataFrame, JoinStats]:
    """Attach ground truth to predictions by key.

    Args:
        predictions: rows that were scored (features, outputs, key columns).
        labels: rows with the key column(s) and the true value in ``target``
            (or in the only non-key column, whatever its name).
        key: the column(s) present in both.
        target: the target's name in the spec.
        how: ``inner`` keeps the matched rows only; ``left`` keeps every
            prediction, with a missing label where none matched.

    Returns:
        The rows with the true value in column ``__label`` (in the order of
        ``predictions``), and how many rows matched.

    Raises:
        DataError: a key column is missing, a key is repeated in the labels,
            or no row matches.
    """
    key = list(key)
    for name, frame in (("predictions", predictions), ("labels", labels)):
        absent = [k for k in key if k not in frame.columns]
        if absent:
            raise DataError(
                f"the {name} have no column {absent[0]!r} to join on; columns: "
                f"{', '.join(map(str, frame.columns[:20]))}. Set [monitoring] key (or --key) "
                "to a column present in both"
            )
    value_columns = [c for c in labels.columns if c not in key]
    if target in labels.columns:
        label_column = target
    elif len(value_columns) == 1:
        label_column = str(value_columns[0])
    else:
        raise DataError(
            f"the labels need the target column {target!r} (or exactly one column besides "
            f"the key {', '.join(key)}); found: {', '.join(map(str, labels.columns[:20]))}"
        )
    slim = labels[[*key, label_column]].copy()
    slim[key] = slim[key].astype("str")
    repeated = slim.duplicated(subset=key, keep=False)
    if repeated.any():
        first = slim.loc[repeated, key].iloc[0].tolist()
        raise DataError(
            f"the labels repeat the key {', '.join(key)} = {', '.join(map(str, first))} "
            f"({int(repeated.sum())} rows with a repeated key); keep one label per key"
        )
    left = predictions.reset_index(drop=True)
    if "__label" in left.columns:
        left = left.drop(columns="__label")
    keys = left[key].astype("str")
    slim = slim.rename(columns={label_column: "__label"})
    found = keys.merge(slim, on=key, how="left", validate="many_to_one")["__label"]
    matched = found.notna().to_numpy()
    merged = left.assign(__label=found.to_numpy())
    if how == "inner":
        merged = merged[matched].reset_index(drop=True)
    stats = JoinStats(tuple(key), len(predictions), len(labels), int(matched.sum()))
    if stats.matched == 0:
        raise DataError(
            f"no label matched a prediction on {', '.join(key)} ({len(labels)} labels, "
            f"{len(predictions)} predictions); check that the key values agree"
        )
    return merged, stats


def encode_labels(values: pd.Series, classes: Sequence[str]) -> np.ndarray:
    """Class labels as integer codes in ``classes`` order (missing as -1).

    Raises:
        DataError: a label is not one of the model's classes.
    """
    strings = as_strings(normalize_missing(values))
    index = {str(label): code for code, label in enumerate(classes)}
    codes = strings.map(index)
    unknown = strings.notna() & codes.isna()
    if unknown.any():
        bad = strings[unknown].unique()[:5]
        raise DataError(
            f"labels {', '.join(repr(b) for b in bad)} are not classes the model knows "
            f"({', '.join(classes)}); retrain to learn new classes"
        )
    return codes.fillna(-1).to_numpy(dtype=int)
