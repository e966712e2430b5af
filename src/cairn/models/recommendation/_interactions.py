"""Who interacted with what: the table of interactions read into arrays.

:func:`build_interactions` checks the user, item, rating, weight and time
columns a spec names, drops what cannot be used (saying so), aggregates
repeated (user, item) pairs, and returns :class:`Interactions`: integer user
and item indices over two id maps, one value and (optionally) one time per
interaction. Everything after it (the split, the models, evaluation) works
on these indices; the id maps turn them back into the data's ids.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from cairn.data.findings import Finding, quoted_examples
from cairn.data.schema import missing_column_message
from cairn.data.values import MISSING_SENTINELS, parse_dates
from cairn.exceptions import DataError

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

__all__ = ["AUTO_RELEVANCE_SHARE", "Interactions", "build_interactions"]

#: With ``relevance_threshold = "auto"``, ratings in the top 30 % of the
#: rating scale count as relevant: 4 and up on 1..5 or 0.5..5, 8 and up on 1..10.
AUTO_RELEVANCE_SHARE = 0.3
# Epoch times above this are milliseconds (1e11 s is the year 5138).
_MILLISECONDS_FROM = 1e11


@dataclass
class Interactions:
    """Interactions over fixed user and item id maps.

    Attributes:
        user_ids: the data's user ids; position = user index.
        item_ids: the data's item ids; position = item index.
        users: user index of each interaction (int32).
        items: item index of each interaction (int32).
        values: the rating, the event weight, or 1.0 (float32).
        times: epoch seconds of each interaction (int64), or None.
        explicit: the values are ratings (else event strengths).
        relevance_threshold: ratings from this value up are relevant; None:
            every interaction is.
        rating_scale: the lowest and highest possible rating (explicit only).
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    users: np.ndarray
    items: np.ndarray
    values: np.ndarray
    times: np.ndarray | None
    explicit: bool
    relevance_threshold: float | None = None
    rating_scale: tuple[float, float] | None = None

    def __len__(self) -> int:
        return len(self.users)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def relevant_mask(self) -> np.ndarray:
        """Which interactions count as relevant (rating at the threshold or above)."""
        if self.relevance_threshold is None:
            return np.ones(len(self), dtype=bool)
        return np.asarray(self.values >= self.relevance_threshold)

    def subset(self, mask: np.ndarray) -> Interactions:
        """The interactions where ``mask`` holds, over the same id maps."""
        return replace(
            self,
            users=self.users[mask],
            items=self.items[mask],
            values=self.values[mask],
            times=None if self.times is None else self.times[mask],
        )

    def matrix(self, mask: np.ndarray | None = None, *, binary: bool = False) -> csr_matrix:
        """Users × items sparse matrix of the values (1.0 with ``binary``)."""
        from scipy.sparse import csr_matrix

        chosen = self if mask is None else self.subset(mask)
        data = np.ones(len(chosen), dtype=np.float32) if binary else chosen.values
        return csr_matrix(
            (data, (chosen.users, chosen.items)),
            shape=(self.n_users, self.n_items),
            dtype=np.float32,
        )

    def item_rows(
        self, user_indices: np.ndarray, *, relevant_only: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """The items of each user in ``user_indices`` (in that order), as CSR
        rows (indptr, sorted item indices); with ``relevant_only``, only the
        relevant ones. numpy only."""
        keep = self.relevant_mask() if relevant_only else np.ones(len(self), dtype=bool)
        users, items = self.users[keep].astype(np.int64), self.items[keep].astype(np.int64)
        order = np.lexsort((items, users))
        users, items = users[order], items[order]
        starts = np.searchsorted(users, user_indices, side="left")
        ends = np.searchsorted(users, user_indices, side="right")
        lengths = ends - starts
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        if not len(user_indices) or not lengths.sum():
            return indptr, np.zeros(0, dtype=np.int64)
        gather = np.concatenate([np.arange(s, e) for s, e in zip(starts, ends, strict=True)])
        return indptr, items[gather]

    def users_present(self) -> np.ndarray:
        """Indices of the users with at least one interaction here, sorted."""
        return np.unique(self.users).astype(np.int64)

    def per_user(self) -> np.ndarray:
        """Interactions per user (n_users,)."""
        return np.bincount(self.users, minlength=self.n_users)

    def per_item(self) -> np.ndarray:
        """Interactions per item (n_items,): the items' popularity."""
        return np.bincount(self.items, minlength=self.n_items)


def _column(frame: pd.DataFrame, name: str, what: str, key: str, source: str) -> pd.Series:
    if name not in frame.columns:
        raise DataError(
            missing_column_message(what, name, list(frame.columns), source)
            + f" (set problem.{key} to one of them)"
        )
    return frame[name]


def _row(position: int) -> str:
    """A data row's number for messages: 1 = the first row after the header."""
    return f"row {position + 1}"


def _missing_ids(values: pd.Series) -> np.ndarray:
    missing = values.isna().to_numpy().copy()
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        text = values.astype(str).str.strip().str.lower()
        missing |= text.isin(MISSING_SENTINELS).to_numpy()
    return np.asarray(missing)


def _ids(values: pd.Series) -> pd.Series:
    """Ids in one canonical form: whole numbers as int64 (a float column of
    ids, from missing values, reads 1.0 as 1), text stripped."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.astype("float64")
        if np.all(np.mod(numbers.to_numpy(), 1) == 0):
            return numbers.astype("int64")
        return numbers
    return values.astype(str).str.strip()


def _numbers(
    values: pd.Series, column: str, key: str, source: str, *, kept: np.ndarray
) -> pd.Series:
    """A numeric column; text that is not a number is an error naming rows."""
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna().to_numpy() & ~values.isna().to_numpy() & kept
    if bad.any():
        rows = np.flatnonzero(bad)
        examples = quoted_examples(values.iloc[rows].tolist())
        raise DataError(
            f"{source}: column {column!r} (problem.{key}) holds {len(rows)} value(s) that are "
            f"not numbers, first at {_row(rows[0])}: {examples}; fix or remove those rows"
        )
    return numbers.astype("float64")


def _epoch_seconds(values: pd.Series, column: str, source: str, *, kept: np.ndarray) -> pd.Series:
    """Times as epoch seconds (float, NaN where missing): epoch numbers (in
    seconds or milliseconds) or dates."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return _seconds_of(pd.to_datetime(values, utc=True), values.index)
    if pd.api.types.is_numeric_dtype(values):
        numbers = values.astype("float64")
        scale = 1000.0 if np.nanmedian(np.abs(numbers.to_numpy())) > _MILLISECONDS_FROM else 1.0
        return numbers / scale
    numbers = pd.to_numeric(values, errors="coerce")
    filled = ~_missing_ids(values) & kept
    # Mostly numbers: epoch times, and the rest are errors; else dates.
    as_numbers = bool(numbers[filled].notna().mean() >= 0.5)
    stamps = pd.to_datetime(
        parse_dates(values.astype("string"), None) if not as_numbers else pd.Series(pd.NaT),
        utc=True,
    )
    bad = (numbers.isna() if as_numbers else stamps.isna()).to_numpy() & filled
    if bad.any():
        rows = np.flatnonzero(bad)
        raise DataError(
            f"{source}: time column {column!r} holds {len(rows)} value(s) that are not "
            f"dates or epoch times, first at {_row(rows[0])}: "
            f"{quoted_examples(values.iloc[rows].tolist())}; fix them or unset data.time_column"
        )
    if as_numbers:
        return _epoch_seconds(numbers.astype("float64"), column, source, kept=kept)
    return _seconds_of(stamps, values.index)


def _seconds_of(stamps: pd.Series, index: pd.Index) -> pd.Series:
    seconds = (stamps - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
    return pd.Series(np.asarray(seconds, dtype="float64"), index=index)


def _threshold(
    setting: float | str, scale: tuple[float, float], values: np.ndarray, column: str
) -> tuple[float | None, str]:
    """The relevance threshold and how it was chosen."""
    if setting == "all":
        return None, "every rating counts as relevant (relevance_threshold = 'all')"
    if setting == "auto":
        low, high = scale
        threshold = low + (1.0 - AUTO_RELEVANCE_SHARE) * (high - low)
        # A rating at the threshold's nearest step counts: 3.65 on 0.5..5 means 4 and up.
        steps = np.unique(values)
        above = steps[steps >= threshold - 1e-9]
        chosen = float(above.min()) if len(above) else float(high)
        how = (
            f"ratings of {chosen:g} and up count as relevant (the top "
            f"{AUTO_RELEVANCE_SHARE:.0%} of the {low:g}..{high:g} scale; set "
            "problem.relevance_threshold to change it)"
        )
        return chosen, how
    threshold = float(setting)
    if not (values >= threshold).any():
        raise DataError(
            f"no rating in {column!r} reaches problem.relevance_threshold = {threshold:g} "
            f"(highest: {values.max():g}): nothing would count as relevant; lower it"
        )
    return threshold, f"ratings of {threshold:g} and up count as relevant"


def build_interactions(
    frame: pd.DataFrame,
    *,
    user: str,
    item: str,
    rating: str | None = None,
    weight: str | None = None,
    time: str | None = None,
    relevance_threshold: float | Literal["auto", "all"] = "auto",
    rating_scale: tuple[float, float] | None = None,
    source: str = "the data",
) -> tuple[Interactions, list[Finding]]:
    """Read the interactions of ``frame``; see the module docstring.

    Rows with a missing user, item, rating or time are dropped; a zero event
    weight is no event. Repeated (user, item) pairs become one interaction:
    explicit ratings keep the latest rating (the mean without a time column),
    event weights are summed, the time is the latest.

    Returns:
        The interactions, and the findings (what was dropped or aggregated,
        how relevance is decided) for the quality report.

    Raises:
        DataError: a named column is missing; ratings, weights or times that
            are not numbers or dates; ratings outside ``rating_scale``;
            negative weights; fewer than two users or items left.
    """
    if rating is not None and weight is not None:
        raise DataError("give a rating column or a weight column, not both")
    where = source or "the data"
    user_values = _column(frame, user, "user column", "user", where)
    item_values = _column(frame, item, "item column", "item", where)
    findings: list[Finding] = []
    if not len(frame):
        raise DataError(f"{where}: no interactions (the table has no rows)")
    missing = _missing_ids(user_values) | _missing_ids(item_values)
    kept = ~missing
    if missing.any():
        first = int(np.flatnonzero(missing)[0])
        findings.append(
            Finding(
                check="missing_ids",
                severity="warning",
                column=user if _missing_ids(user_values).any() else item,
                count=int(missing.sum()),
                message=f"{int(missing.sum())} row(s) have no user or no item "
                f"(first at {_row(first)})",
                action="dropped those rows",
                applied=True,
            )
        )
    values = np.ones(len(frame), dtype="float64")
    scale: tuple[float, float] | None = None
    if rating is not None:
        ratings = _numbers(
            _column(frame, rating, "rating column", "rating", where),
            rating,
            "rating",
            where,
            kept=kept,
        )
        unrated = ratings.isna().to_numpy() & kept
        if unrated.any():
            findings.append(
                Finding(
                    check="missing_ratings",
                    severity="warning",
                    column=rating,
                    count=int(unrated.sum()),
                    message=f"{int(unrated.sum())} interaction(s) have no rating "
                    f"(first at {_row(int(np.flatnonzero(unrated)[0]))})",
                    action="dropped those rows",
                    applied=True,
                )
            )
            kept &= ~unrated
        values = ratings.to_numpy()
        if rating_scale is not None:
            low, high = rating_scale
            outside = kept & ((values < low) | (values > high))
            if outside.any():
                rows = np.flatnonzero(outside)
                raise DataError(
                    f"{where}: {len(rows)} rating(s) in {rating!r} lie outside "
                    f"problem.rating_scale = [{low:g}, {high:g}], first at {_row(rows[0])}: "
                    f"{quoted_examples(ratings.iloc[rows].tolist())}; fix those rows or widen "
                    "problem.rating_scale"
                )
            scale = (float(low), float(high))
    elif weight is not None:
        weights = _numbers(
            _column(frame, weight, "weight column", "weight", where),
            weight,
            "weight",
            where,
            kept=kept,
        )
        negative = kept & (weights.to_numpy() < 0)
        if negative.any():
            rows = np.flatnonzero(negative)
            raise DataError(
                f"{where}: {len(rows)} negative weight(s) in {weight!r}, first at "
                f"{_row(rows[0])}: {quoted_examples(weights.iloc[rows].tolist())}; an event weight "
                "counts how strongly a user engaged (plays, clicks): fix those rows"
            )
        empty = kept & ~(weights.to_numpy() > 0)
        if empty.any():
            findings.append(
                Finding(
                    check="zero_weights",
                    severity="info",
                    column=weight,
                    count=int(empty.sum()),
                    message=f"{int(empty.sum())} row(s) have a zero or missing weight",
                    action="dropped those rows (no event)",
                    applied=True,
                )
            )
            kept &= ~empty
        values = weights.to_numpy()
    times: np.ndarray | None = None
    if time is not None:
        seconds = _epoch_seconds(
            _column(frame, time, "time column", "time_column", where), time, where, kept=kept
        ).to_numpy()
        untimed = kept & np.isnan(seconds)
        if untimed.any():
            findings.append(
                Finding(
                    check="missing_times",
                    severity="warning",
                    column=time,
                    count=int(untimed.sum()),
                    message=f"{int(untimed.sum())} interaction(s) have no time "
                    f"(first at {_row(int(np.flatnonzero(untimed)[0]))})",
                    action="dropped those rows: a time-aware split cannot place them",
                    applied=True,
                )
            )
            kept &= ~untimed
        times = seconds
    table = pd.DataFrame(
        {
            "user": _ids(user_values[kept]),
            "item": _ids(item_values[kept]),
            "value": values[kept],
            **({"time": times[kept]} if times is not None else {}),
        }
    )
    table, aggregated = _aggregate(table, explicit=rating is not None)
    if aggregated:
        how = (
            ("the latest rating kept" if times is not None else "their ratings averaged")
            if rating is not None
            else ("weights summed" if weight is not None else "counted as one event each, summed")
        )
        findings.append(
            Finding(
                check="duplicate_interactions",
                severity="warning",
                column=None,
                count=aggregated,
                message=f"{aggregated} row(s) repeat a ({user}, {item}) pair already seen",
                action=f"aggregated into one interaction per pair ({how})",
                applied=True,
            )
        )
    user_codes, user_ids = pd.factorize(table["user"], sort=True)
    item_codes, item_ids = pd.factorize(table["item"], sort=True)
    if len(user_ids) < 2:
        only = f" ('{user_ids[0]}')" if len(user_ids) else ""
        raise DataError(
            f"{where}: {len(user_ids)} user(s){only} in {user!r}: a recommender learns from "
            "what several users did; add the other users' interactions"
        )
    if len(item_ids) < 2:
        raise DataError(
            f"{where}: {len(item_ids)} item(s) in {item!r}: there is nothing to rank; "
            "check that problem.item names the item column"
        )
    threshold: float | None = None
    final_values = table["value"].to_numpy(dtype=np.float32)
    if rating is not None:
        if scale is None:
            scale = (float(final_values.min()), float(final_values.max()))
        threshold, how = _threshold(relevance_threshold, scale, final_values, rating)
        share = float(np.mean(final_values >= threshold)) if threshold is not None else 1.0
        findings.append(
            Finding(
                check="relevance",
                severity="info",
                column=rating,
                count=int(round(share * len(final_values))),
                message=f"{how}: {share:.0%} of the interactions",
                action="used to score the held-out interactions",
                applied=True,
            )
        )
    interactions = Interactions(
        user_ids=np.asarray(user_ids),
        item_ids=np.asarray(item_ids),
        users=user_codes.astype(np.int32),
        items=item_codes.astype(np.int32),
        values=final_values,
        times=(None if times is None else np.round(table["time"].to_numpy()).astype(np.int64)),
        explicit=rating is not None,
        relevance_threshold=threshold,
        rating_scale=scale,
    )
    return interactions, findings


def _aggregate(table: pd.DataFrame, *, explicit: bool) -> tuple[pd.DataFrame, int]:
    """One row per (user, item); the rows folded away."""
    repeated = table.duplicated(["user", "item"], keep=False)
    if not repeated.any():
        return table.reset_index(drop=True), 0
    has_time = "time" in table.columns
    if explicit and has_time:
        # The latest rating is the user's current opinion.
        ordered = table.sort_values("time", kind="stable")
        folded = ordered.drop_duplicates(["user", "item"], keep="last")
    else:
        rules: dict[str, Any] = {"value": "mean" if explicit else "sum"}
        if has_time:
            rules["time"] = "max"
        folded = table.groupby(["user", "item"], sort=False, as_index=False).agg(rules)
    return folded.reset_index(drop=True), int(len(table) - len(folded))
