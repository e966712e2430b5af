"""Monitoring a recommender: what the served lists achieved, and how the
interactions moved away from training.

Inputs: the lists served by ``POST /recommend`` (the prediction log: user,
time, items, arm, fallback) and the interactions that came later (user,
item, time). Measured:

* **served quality**: an interaction of the user with a served item after
  the list was served (within ``horizon`` when given) is a hit. Over the
  lists whose user interacted at all after being served: the hit rate
  (lists with at least one hit), precision@k (hits over the list's length)
  and, for comparison on the same lists, what the most popular unseen items
  would have hit. The served lists doing no better than popularity (the
  paired difference's interval lies at or below zero) fails the
  ``degradation`` check. Per A/B arm too.
* **coverage** of what was served (share of the catalogue served to anyone)
  and its popularity bias (share of served slots on training's top 10 %).
* **item-popularity drift**: the Jensen–Shannon distance between the
  training interactions' spread over the items and the recent one (items
  unseen in training in a bin of their own). A sample of n interactions
  drawn from training itself is already some distance away, so the
  distance is judged by its excess over what such samples show
  (``popularity_excess``) and the share of recent interactions on items
  unseen in training (``max_unseen_item_share``).
* **user-activity drift**: the share of recent interactions by users the
  model never saw (they get the fallback list) and of active users who are
  new, and how concentrated activity is (share of interactions by the
  busiest 10 % of users) then and now.

Either drift fails the ``drift`` check. Everything is numpy; nothing here
imports training code.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from cairn._io import json_safe
from cairn.exceptions import DataError
from cairn.monitoring.policy import HealthCheck

if TYPE_CHECKING:
    import pandas as pd

    from cairn.bundle import Recommender

__all__ = [
    "ArmQuality",
    "RecommendationReport",
    "RecommendationThresholds",
    "ServedLists",
    "TrainingProfile",
    "jensen_shannon",
    "paired_interval",
    "recommendation_checks",
    "recommendation_report",
    "served_lists",
    "training_profile",
]

_TOP_SHARE = 0.10  # "popular" items and "busy" users: the top 10 %


@dataclass(frozen=True)
class RecommendationThresholds:
    """When a recommender's monitoring fails its checks.

    Attributes:
        popularity_excess: Jensen–Shannon distance beyond what samples of
            training of the same size show.
        max_unseen_item_share: recent interactions on items the model
            cannot recommend (not in its training catalogue).
        max_new_user_share: recent interactions by users the model never saw.
        confidence: level of the paired interval of served vs popularity.
        null_rounds: samples of training drawn for the distance's baseline.
    """

    popularity_excess: float = 0.1
    max_unseen_item_share: float = 0.2
    max_new_user_share: float = 0.5
    confidence: float = 0.95
    null_rounds: int = 30


@dataclass
class ServedLists:
    """Lists served to users: one entry per list, oldest first."""

    users: list[Any]
    times: np.ndarray  # epoch seconds
    items: list[list[Any]]
    arms: list[str]
    fallback: list[str | None]

    def __len__(self) -> int:
        return len(self.users)


def _key(value: Any) -> str:
    """Ids compared as text: ``42``, ``42.0`` and ``"42"`` are one user."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if hasattr(value, "item"):
        value = value.item()
        if isinstance(value, float) and value.is_integer():
            value = int(value)
    return str(value).strip()


def served_lists(log: pd.DataFrame) -> ServedLists:
    """The /recommend lists in a prediction-log frame (:func:`cairn.serving.read_log`).

    Rows of other routes (/similar-items) are left out.

    Raises:
        DataError: the frame holds no /recommend rows.
    """
    import pandas as pd

    route = log["route"] if "route" in log.columns else log.get("input.route")
    user = log["user"] if "user" in log.columns else log.get("input.user")
    if route is None or user is None or "prediction" not in log.columns:
        raise DataError(
            "the prediction log holds no served recommendations (no /recommend rows with a "
            "user and the items served); serve the model with 'cairn serve' and log it"
        )
    keep = (route == "recommend").to_numpy()
    rows = log[keep]
    if not len(rows):
        raise DataError(
            "the prediction log holds no /recommend answers in this window; widen "
            "--since/--until or check that the server logs (it does unless --no-log)"
        )
    predictions = rows["prediction"].tolist()
    items = [list(p.get("items") or []) if isinstance(p, dict) else [] for p in predictions]
    fallback = [p.get("fallback") if isinstance(p, dict) else None for p in predictions]
    times = _epoch_seconds(pd.to_datetime(rows["ts"], utc=True))
    arms = rows["arm"].astype(str).tolist() if "arm" in rows.columns else ["champion"] * len(rows)
    users = (user[keep]).tolist()
    return ServedLists(users, np.asarray(times, dtype=float), items, arms, fallback)


def _epoch_seconds(moments: pd.Series) -> np.ndarray:
    """Seconds since the epoch, whatever unit pandas keeps the times in; NaN for none."""
    import pandas as pd

    seconds = (moments - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
    return np.asarray(seconds.to_numpy(dtype=float, na_value=np.nan), dtype=float)


@dataclass
class TrainingProfile:
    """What monitoring needs of the training interactions: the catalogue,
    each item's interaction count, each known user's count, what each user
    saw (for the popularity baseline)."""

    item_keys: list[str]
    item_counts: np.ndarray
    user_keys: list[str]
    user_counts: np.ndarray
    seen: dict[str, set[str]] = field(repr=False, default_factory=dict)

    @property
    def n_items(self) -> int:
        return len(self.item_keys)


def training_profile(recommender: Recommender) -> TrainingProfile:
    """The training side of the checks, from the served model itself."""
    item_keys = [_key(i) for i in recommender.item_ids]
    user_keys = [_key(u) for u in recommender.user_ids]
    seen = {}
    counts = np.zeros(len(user_keys), dtype=float)
    for index, user in enumerate(recommender.user_ids):
        items = recommender.seen(user)
        counts[index] = len(items)
        seen[user_keys[index]] = {_key(i) for i in items}
    return TrainingProfile(
        item_keys, np.asarray(recommender.popularity, dtype=float), user_keys, counts, seen
    )


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon distance (square root of the divergence, base 2), in [0, 1]."""
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    p, q = p / max(p.sum(), 1e-300), q / max(q.sum(), 1e-300)
    m = (p + q) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(p > 0, p * np.log2(p / m), 0.0)
        right = np.where(q > 0, q * np.log2(q / m), 0.0)
    return float(np.sqrt(max(0.0, 0.5 * left.sum() + 0.5 * right.sum())))


@dataclass
class ArmQuality:
    """How one arm's served lists did against the later interactions.

    ``popularity_*``: the most popular unseen items, on the same lists.
    ``difference_low/high``: interval of the paired precision difference
    (served minus popularity).
    """

    arm: str
    lists: int
    active_lists: int
    hit_rate: float | None
    precision: float | None
    popularity_hit_rate: float | None
    popularity_precision: float | None
    difference_low: float | None = None
    difference_high: float | None = None

    @property
    def worse_than_popularity(self) -> bool:
        return self.difference_high is not None and self.difference_high <= 0.0


@dataclass
class RecommendationReport:
    """Served quality, coverage and drift of a recommender (see the module)."""

    k: int
    catalogue: int
    interactions: int
    lists: int
    arms: list[ArmQuality]
    coverage: float | None
    served_popular_share: float | None
    fallback_share: float | None
    popularity_distance: float
    popularity_null: float
    popularity_excess: float
    unseen_item_share: float
    new_user_share: float
    new_active_user_share: float
    busy_share_training: float
    busy_share_recent: float
    active_users: int
    thresholds: RecommendationThresholds
    horizon_s: float | None = None
    top_new_items: list[tuple[str, int]] = field(default_factory=list)
    test_metrics: dict[str, float] = field(default_factory=dict)

    @property
    def popularity_drifted(self) -> bool:
        return (
            self.popularity_excess > self.thresholds.popularity_excess
            or self.unseen_item_share > self.thresholds.max_unseen_item_share
        )

    @property
    def users_drifted(self) -> bool:
        return self.new_user_share > self.thresholds.max_new_user_share

    @property
    def champion(self) -> ArmQuality | None:
        for arm in self.arms:
            if arm.arm == "champion":
                return arm
        return self.arms[0] if self.arms else None

    def quality_message(self) -> str:
        best = self.champion
        if best is None or best.precision is None:
            return "no served list has a later interaction of its user to judge it by"
        text = (
            f"served lists: hit rate {best.hit_rate:.3f}, precision@{self.k} "
            f"{best.precision:.4f} on {best.active_lists} list(s) whose user came back; "
            f"the most popular unseen items: hit rate {best.popularity_hit_rate:.3f}, "
            f"precision@{self.k} {best.popularity_precision:.4f}"
        )
        if best.difference_low is not None:
            text += (
                f" (difference {best.difference_low:+.4f} to {best.difference_high:+.4f}, "
                f"{self.thresholds.confidence:.0%} interval)"
            )
        return text

    def drift_message(self) -> str:
        parts = [
            f"item popularity: Jensen-Shannon {self.popularity_distance:.3f}, "
            f"{self.popularity_excess:+.3f} beyond samples of training of this size "
            f"(limit {self.thresholds.popularity_excess:g}); "
            f"{self.unseen_item_share:.1%} of interactions on items unseen in training "
            f"(limit {self.thresholds.max_unseen_item_share:.0%})",
            f"users: {self.new_user_share:.1%} of interactions by users new to the model "
            f"(limit {self.thresholds.max_new_user_share:.0%}), {self.new_active_user_share:.1%} "
            f"of {self.active_users} active users new",
        ]
        return "; ".join(parts)

    def summary(self) -> str:
        coverage = "-" if self.coverage is None else f"{self.coverage:.1%}"
        return (
            f"{self.lists} served list(s), catalogue coverage {coverage}; "
            f"{self.quality_message()}; {self.drift_message()}"
        )

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                "k": self.k,
                "catalogue": self.catalogue,
                "interactions": self.interactions,
                "lists": self.lists,
                "horizon_s": self.horizon_s,
                "arms": [
                    {**asdict(a), "worse_than_popularity": a.worse_than_popularity}
                    for a in self.arms
                ],
                "coverage": self.coverage,
                "served_popular_share": self.served_popular_share,
                "fallback_share": self.fallback_share,
                "popularity_distance": self.popularity_distance,
                "popularity_null": self.popularity_null,
                "popularity_excess": self.popularity_excess,
                "unseen_item_share": self.unseen_item_share,
                "top_new_items": [{"item": i, "interactions": n} for i, n in self.top_new_items],
                "new_user_share": self.new_user_share,
                "new_active_user_share": self.new_active_user_share,
                "busy_share_training": self.busy_share_training,
                "busy_share_recent": self.busy_share_recent,
                "active_users": self.active_users,
                "popularity_drifted": self.popularity_drifted,
                "users_drifted": self.users_drifted,
                "thresholds": asdict(self.thresholds),
                "test_metrics": self.test_metrics,
                "summary": self.summary(),
            }
        )


def _later(
    interactions: pd.DataFrame, user: str, item: str, time: str | None
) -> tuple[list[str], list[str], np.ndarray]:
    import pandas as pd

    missing = [c for c in (user, item, time) if c and c not in interactions.columns]
    if missing:
        raise DataError(
            f"the interactions lack the column(s) {', '.join(missing)}; they need the user, "
            f"the item and the time ({user!r}, {item!r}, {time!r}); columns: "
            f"{', '.join(map(str, interactions.columns[:20]))}"
        )
    frame = interactions.dropna(subset=[c for c in (user, item) if c])
    if time is None:  # no interaction can be placed after a serving
        times = np.full(len(frame), np.nan)
    else:
        column = frame[time]
        if pd.api.types.is_numeric_dtype(column):
            times = column.to_numpy(dtype=float)  # epoch seconds, as the ratings files hold them
        else:
            parsed = pd.to_datetime(column, errors="coerce", utc=True)
            if parsed.isna().all():
                raise DataError(
                    f"the interactions' time column {time!r} holds neither epoch seconds nor "
                    "dates; give times like 2026-03-01T12:00 or 1700000000"
                )
            times = _epoch_seconds(parsed)
    return [_key(u) for u in frame[user]], [_key(i) for i in frame[item]], times


def _popular_unseen(order: list[str], seen: set[str], k: int) -> list[str]:
    out = []
    for item in order:
        if item not in seen:
            out.append(item)
            if len(out) == k:
                break
    return out


def paired_interval(
    differences: np.ndarray, confidence: float, rounds: int = 500, seed: int = 0
) -> tuple[float | None, float | None]:
    """Bootstrap interval of the mean of paired per-user differences (None
    with fewer than two users or no rounds)."""
    if len(differences) < 2 or rounds <= 0:
        return None, None
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(differences), size=(rounds, len(differences)))
    means = differences[picks].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def _served_quality(
    served: ServedLists,
    users: list[str],
    items: list[str],
    times: np.ndarray,
    profile: TrainingProfile,
    k: int,
    horizon: float | None,
    confidence: float,
) -> list[ArmQuality]:
    """Hits of each served list and of the popularity list on the same lists, per arm."""
    by_pair: dict[tuple[str, str], list[float]] = {}
    by_user: dict[str, list[float]] = {}
    for user, item, moment in zip(users, items, times.tolist(), strict=True):
        if moment != moment:  # no time: cannot be placed after a serving
            continue
        by_pair.setdefault((user, item), []).append(moment)
        by_user.setdefault(user, []).append(moment)
    for values in (*by_pair.values(), *by_user.values()):
        values.sort()

    def after(moments: list[float] | None, start: float) -> bool:
        if not moments:
            return False
        at = bisect.bisect_right(moments, start)
        if at == len(moments):
            return False
        return horizon is None or moments[at] <= start + horizon

    order = [profile.item_keys[i] for i in np.argsort(-profile.item_counts, kind="stable")]
    rows: dict[str, list[tuple[float, float, float, float]]] = {}
    counts: dict[str, int] = {}
    for user, start, listed, arm in zip(
        served.users, served.times.tolist(), served.items, served.arms, strict=True
    ):
        counts[arm] = counts.get(arm, 0) + 1
        key = _key(user)
        if not after(by_user.get(key), start):
            continue  # the user did nothing later: the list cannot be judged
        listed_keys = [_key(i) for i in listed]
        length = max(len(listed_keys), 1)
        hits = sum(after(by_pair.get((key, i)), start) for i in listed_keys)
        baseline = _popular_unseen(order, profile.seen.get(key, set()), len(listed_keys) or k)
        base_hits = sum(after(by_pair.get((key, i)), start) for i in baseline)
        rows.setdefault(arm, []).append(
            (float(hits > 0), hits / length, float(base_hits > 0), base_hits / length)
        )
    out = []
    for arm in sorted(counts, key=lambda a: (a != "champion", a)):
        judged = np.asarray(rows.get(arm, []), dtype=float).reshape(-1, 4)
        if not len(judged):
            out.append(ArmQuality(arm, counts[arm], 0, None, None, None, None))
            continue
        low, high = paired_interval(judged[:, 1] - judged[:, 3], confidence)
        means = judged.mean(axis=0)
        out.append(
            ArmQuality(
                arm,
                counts[arm],
                len(judged),
                float(means[0]),
                float(means[1]),
                float(means[2]),
                float(means[3]),
                low,
                high,
            )
        )
    return out


def _popularity_drift(
    items: list[str], profile: TrainingProfile, rounds: int, seed: int
) -> tuple[float, float, float, list[tuple[str, int]]]:
    """Distance of the recent spread over items from training's, the distance
    samples of training of the same size show (median), the share on
    unseen items and the most frequent unseen items."""
    position = {item: i for i, item in enumerate(profile.item_keys)}
    counts = np.zeros(profile.n_items + 1)
    unseen: dict[str, int] = {}
    for item in items:
        index = position.get(item)
        if index is None:
            counts[-1] += 1
            unseen[item] = unseen.get(item, 0) + 1
        else:
            counts[index] += 1
    n = int(counts.sum())
    reference = np.append(profile.item_counts, 0.0)
    distance = jensen_shannon(reference, counts)
    share = reference / max(reference.sum(), 1e-300)
    rng = np.random.default_rng(seed)
    null = [jensen_shannon(reference, rng.multinomial(n, share)) for _ in range(rounds)]
    typical = float(np.median(null)) if null else 0.0
    top = sorted(unseen.items(), key=lambda pair: -pair[1])[:10]
    return distance, typical, float(counts[-1] / max(n, 1)), top


def _busy_share(counts: np.ndarray) -> float:
    """Share of interactions by the busiest 10 % of users."""
    if not len(counts) or counts.sum() <= 0:
        return math.nan
    ordered = np.sort(counts)[::-1]
    top = max(1, math.ceil(len(ordered) * _TOP_SHARE))
    return float(ordered[:top].sum() / ordered.sum())


def recommendation_report(
    served: ServedLists | None,
    interactions: pd.DataFrame,
    profile: TrainingProfile,
    *,
    user: str,
    item: str,
    time: str | None,
    k: int = 10,
    horizon: float | None = None,
    thresholds: RecommendationThresholds | None = None,
    test_metrics: dict[str, float] | None = None,
    seed: int = 0,
) -> RecommendationReport:
    """Served quality, coverage and drift of a recommender.

    Args:
        served: the lists served (None: only the drift is measured).
        interactions: the interactions that came after training (user,
            item and time columns).
        profile: the training side (:func:`training_profile`).
        user, item, time: the interactions' column names.
        k: the list length the report speaks of (served lists keep their own).
        horizon: seconds after serving within which an interaction counts.
        test_metrics: the bundle's offline figures, shown beside.

    Raises:
        DataError: a column is missing, the times are unreadable, or there
            are no interactions.
    """
    thresholds = thresholds or RecommendationThresholds()
    users, items, times = _later(interactions, user, item, time)
    if not users:
        raise DataError(
            "no interactions to monitor with: the file has no rows with a user and an item"
        )
    arms: list[ArmQuality] = []
    coverage = popular = fallback = None
    if served is not None and len(served):
        arms = _served_quality(
            served, users, items, times, profile, k, horizon, thresholds.confidence
        )
        # what users were shown: a shadow's lists were only logged
        shown = [n for n, arm in enumerate(served.arms) if arm != "shadow"]
        slots = [_key(i) for n in shown for i in served.items[n]]
        coverage = len(set(slots)) / max(profile.n_items, 1)
        cut = max(1, math.ceil(profile.n_items * _TOP_SHARE))
        top = {profile.item_keys[i] for i in np.argsort(-profile.item_counts, kind="stable")[:cut]}
        popular = sum(s in top for s in slots) / max(len(slots), 1)
        fallback = sum(served.fallback[n] is not None for n in shown) / max(len(shown), 1)
    distance, null, unseen_share, top_new = _popularity_drift(
        items, profile, thresholds.null_rounds, seed
    )
    known = set(profile.user_keys)
    per_user: dict[str, int] = {}
    for key in users:
        per_user[key] = per_user.get(key, 0) + 1
    new_interactions = sum(n for u, n in per_user.items() if u not in known)
    return RecommendationReport(
        k=k,
        catalogue=profile.n_items,
        interactions=len(users),
        lists=0 if served is None else len(served),
        arms=arms,
        coverage=coverage,
        served_popular_share=popular,
        fallback_share=fallback,
        popularity_distance=distance,
        popularity_null=null,
        popularity_excess=distance - null,
        unseen_item_share=unseen_share,
        new_user_share=new_interactions / len(users),
        new_active_user_share=sum(u not in known for u in per_user) / len(per_user),
        busy_share_training=_busy_share(profile.user_counts),
        busy_share_recent=_busy_share(np.asarray(list(per_user.values()), dtype=float)),
        active_users=len(per_user),
        thresholds=thresholds,
        horizon_s=horizon,
        top_new_items=top_new,
        test_metrics=dict(test_metrics or {}),
    )


def recommendation_checks(
    report: RecommendationReport, unhealthy_on: Sequence[str]
) -> list[HealthCheck]:
    """The health checks of a recommender: ``drift`` (item popularity or
    users) and ``degradation`` (served lists no better than popularity)."""
    counted = set(unhealthy_on)
    drifted = report.popularity_drifted or report.users_drifted
    checks = [HealthCheck("drift", not drifted, "drift" in counted, report.drift_message())]
    worse = [a.arm for a in report.arms if a.worse_than_popularity]
    judged = [a for a in report.arms if a.difference_high is not None]
    if not judged:
        message = (
            "no served list could be judged (no logged /recommend answers, or no user "
            "interacted after being served)"
        )
        checks.append(HealthCheck("degradation", None, "degradation" in counted, message))
    else:
        message = report.quality_message()
        if worse:
            message = (
                f"the {', '.join(worse)} arm's lists do no better than the most popular items: "
                + message
            )
        checks.append(HealthCheck("degradation", not worse, "degradation" in counted, message))
    return checks
