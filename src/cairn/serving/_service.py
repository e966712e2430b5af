"""The model service behind the scoring routes: the arms and how traffic is
split between them, scoring, and the prediction log's entries.

Nothing here speaks HTTP: records that do not fit the schema come back as
:class:`~cairn.records.RecordsError`, and :mod:`cairn.serving._asgi`
turns them into answers.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import itertools
import logging
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cairn.exceptions import ServingError
from cairn.records import RecordProblem, RecordsError, canonical_string
from cairn.serving._recommend import RecommendRequest, ServedRecommender, SimilarRequest
from cairn.serving.engine import Prediction, ServedModel
from cairn.serving.log import LogEntry, PredictionLog
from cairn.serving.metrics import ServingMetrics

__all__ = ["Arm", "ServingConfig"]

_logger = logging.getLogger("cairn.serving")


@dataclass(frozen=True)
class ServingConfig:
    """How the server guards and records itself.

    Attributes:
        api_key: required on every route but /health and /ready when set.
        max_body_bytes: larger bodies get 413 (default 10 MB).
        max_rows: more records in one request get 413.
        entity_key: input column whose value keeps an entity on one A/B arm.
        log_path: the prediction log (a SQLite file or a ``postgresql://``
            URL); None logs nothing.
        docs: serve /docs and /openapi.json.
    """

    api_key: str | None = None
    max_body_bytes: int = 10_000_000
    max_rows: int = 10_000
    entity_key: str | None = None
    log_path: Path | str | None = None
    docs: bool = True


@dataclass(frozen=True)
class CsvColumns:
    """The champion's columns as a CSV body is read: those kept as text, and
    all its inputs (the header must name some)."""

    text: tuple[str, ...]
    inputs: tuple[str, ...]


@dataclass
class Arm:
    """A model and the share of traffic it gets."""

    name: str  # champion, challenger or shadow
    model: ServedModel | ServedRecommender
    share: float = 1.0
    stats: Any = field(default=None, repr=False)


class _Router:
    """Chooses the arm for each record: sticky by entity key when one is set."""

    def __init__(self, challenger_share: float, entity_key: str | None, salt: str) -> None:
        self.share = challenger_share
        self.entity_key = entity_key
        self.salt = salt.encode()
        self._random = random.Random()

    def _by_entity(self, value: Any) -> int:
        text = canonical_string(value) if not isinstance(value, dict | list) else None
        if text is None:
            return 1 if self._random.random() < self.share else 0
        digest = hashlib.blake2b(text.encode(), digest_size=8, key=self.salt[:64]).digest()
        return 1 if int.from_bytes(digest, "big") / 2**64 < self.share else 0

    def pick(self, value: Any = None) -> int:
        """0 (champion) or 1 (challenger) for one request: sticky by ``value``
        (a recommendation's user) when given, else at random."""
        if self.share <= 0.0:
            return 0
        if value is None:
            return 1 if self._random.random() < self.share else 0
        return self._by_entity(value)

    def assign(self, records: Sequence[Any]) -> list[int] | int:
        """0 (champion) or 1 (challenger): one for the whole request, or one per record."""
        if self.share <= 0.0:
            return 0
        if self.entity_key is None:
            return 1 if self._random.random() < self.share else 0
        key = self.entity_key
        return [
            self._by_entity(record.get(key)) if isinstance(record, dict) else 0
            for record in records
        ]


class Service:
    """Everything a scoring request needs: arms, router, limits, log, metrics."""

    def __init__(self, arms: list[Arm], shadow: Arm | None, config: ServingConfig) -> None:
        #: replaced whole, never changed in place: a request reads it once and
        #: keeps its arms to the end while a followed alias swaps the champion
        self.arms = arms
        self.shadow = shadow
        self.config = config
        #: polls the registry and swaps the champion when its alias moves
        self.follower: Any = None
        champion = arms[0].model
        self.metrics = ServingMetrics(champion.serving.get("prediction_buckets") or ())
        for arm in [*arms, *([shadow] if shadow else [])]:
            arm.stats = self.metrics.arm(
                arm.model.name, arm.model.version, arm.name, arm.model.engine
            )
        share = arms[1].share if len(arms) > 1 else 0.0
        salt = f"{arms[1].model.name}:{arms[1].model.version}" if len(arms) > 1 else ""
        self.router = _Router(share, config.entity_key, salt)
        #: the arms answer /recommend and /similar-items (and not /predict)
        self.recommends = isinstance(champion, ServedRecommender)
        self._describe_champion(champion)
        self.log: PredictionLog | None = (
            PredictionLog(config.log_path) if config.log_path is not None else None
        )
        if self.log is not None:
            log = self.log
            self.metrics.watch_log(log.counts, lambda: float(log.healthy))
        self.ready = False
        self.key = config.api_key.encode() if config.api_key else None
        # unique ids without a system call per request: a random prefix and a counter
        self._id_prefix = os.urandom(6).hex()
        self._ids = itertools.count(1)

    def _describe_champion(self, champion: ServedModel | ServedRecommender) -> None:
        """What the request layer reads from the champion's schema."""
        # one assignment: a request never reads one champion's text columns
        # with another's input columns
        self.csv_columns = CsvColumns(
            # CSV bodies on /invocations: text columns stay text ("007" is not 7)
            text=tuple(
                c.name for c in champion.schema.columns if c.dtype in ("string", "datetime")
            ),
            # a CSV body's header must name some of these
            inputs=tuple(c.name for c in champion.schema.columns),
        )
        # a rejected request's body is not logged when it may hold personal data
        self.protects_personal_data = any(
            isinstance(arm.model, ServedModel) and bool(arm.model.privacy)
            for arm in [*self.arms, *([self.shadow] if self.shadow else [])]
        )

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> None:
        if self.log is not None:
            self.log.start()
        for arm in [*self.arms, *([self.shadow] if self.shadow else [])]:
            arm.model.warm()
        # what is loaded now lives as long as the server: keep it out of GC passes
        gc.collect()
        gc.freeze()
        self.ready = True
        if self.follower is not None:
            self.follower.start(self)

    async def stop(self) -> None:
        self.ready = False
        if self.follower is not None:
            await asyncio.to_thread(self.follower.stop)
        if self.log is not None:
            await asyncio.to_thread(self.log.close)

    def replace_champion(self, model: ServedModel | ServedRecommender) -> None:
        """Serve ``model`` as the champion from the next request on.

        The new arm list is built aside and put in place in one assignment:
        requests already running keep the arms they started with, so they
        finish on the old model and are logged with its version.

        Raises:
            ServingError: ``model`` answers other routes than the champion.
        """
        old = self.arms[0]
        if isinstance(model, ServedRecommender) != self.recommends:
            raise ServingError(
                f"{model.name} v{model.version} ({model.task}) answers other routes than "
                f"the champion it would replace ({old.model.name} v{old.model.version}, "
                f"{old.model.task}); kept serving v{old.model.version}"
            )
        arm = Arm(old.name, model, old.share)
        arm.stats = self.metrics.arm(model.name, model.version, arm.name, model.engine)
        arms = [arm, *self.arms[1:]]
        self.arms = arms
        self._describe_champion(model)

    def next_request_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids):010x}"

    def record(
        self,
        entries: Sequence[LogEntry],
        request_id: str,
        arrived: float,
        latency: float,
        synthetic: bool,
    ) -> None:
        """Log an answered request's entries (nothing without a log)."""
        if self.log is None:
            return
        for entry in entries:
            entry.request_id = request_id
            entry.ts = arrived
            entry.latency_ms = latency * 1000.0
            entry.synthetic = synthetic
            self.log.write(entry)

    # -- scoring -----------------------------------------------------------
    async def _predict(self, arm: Arm, records: Sequence[Any]) -> tuple[Prediction, float]:
        started = time.perf_counter()
        if arm.model.blocking:
            prediction = await asyncio.to_thread(arm.model.predict, records)
        else:
            prediction = arm.model.predict(records)
        return prediction, time.perf_counter() - started

    async def score(self, records: list[Any]) -> tuple[dict[str, Any], list[LogEntry]]:
        """The answer for ``records`` and the log entries, one per arm used.

        Raises:
            RecordsError: every problem of every arm, numbered as in ``records``.
        """
        arms = self.arms  # once: a champion swapped meanwhile serves the next request
        assignment = self.router.assign(records)
        if isinstance(assignment, int):
            groups = {assignment: list(range(len(records)))}
        else:
            groups = {}
            for position, arm_index in enumerate(assignment):
                groups.setdefault(arm_index, []).append(position)
        results: dict[int, Prediction] = {}
        timings: dict[int, float] = {}
        problems: list[RecordProblem] = []
        entries: list[LogEntry] = []
        for arm_index, positions in groups.items():
            arm = arms[arm_index]
            subset = records if len(groups) == 1 else [records[p] for p in positions]
            try:
                prediction, seconds = await self._predict(arm, subset)
            except RecordsError as error:
                problems.extend(
                    RecordProblem(
                        positions[p.record] if p.record is not None else None,
                        p.column,
                        p.message,
                        p.kind,
                    )
                    for p in error.problems
                )
                continue
            results[arm_index] = prediction
            timings[arm_index] = seconds
            entries.append(_log_entry(arm, subset, prediction, rows=positions))
        if problems:
            problems.sort(key=lambda p: p.record if p.record is not None else -1)
            raise RecordsError(problems)
        for arm_index, prediction in results.items():  # only answered requests count
            self._observe(arms[arm_index], prediction, timings[arm_index])
        return self._answer(arms, records, groups, results), entries

    def _observe(self, arm: Arm, prediction: Prediction, seconds: float) -> None:
        if prediction.probabilities is not None and prediction.probabilities.size:
            values = prediction.probabilities[:, -1].tolist()
            labels: Sequence[Any] = prediction.labels
        else:
            values = [float(v) for v in prediction.labels]
            labels = ()
        arm.stats.observe(seconds, len(prediction.labels), labels, values)
        for warning in prediction.warnings:
            if warning.get("column") and warning.get("message", "").startswith("category unseen"):
                self.metrics.unseen.labels(arm.model.name, warning["column"]).inc()

    def _answer(
        self,
        arms: list[Arm],
        records: list[Any],
        groups: dict[int, list[int]],
        results: dict[int, Prediction],
    ) -> dict[str, Any]:
        n = len(records)
        champion = _scorer(arms[min(groups)] if groups else arms[0])
        if len(groups) == 1:
            (arm_index,) = groups
            prediction = results[arm_index]
            labels = prediction.labels
            proba_rows = prediction.probabilities
            warnings = prediction.warnings
            details = prediction.details
            arms_used = None
        else:
            labels = [None] * n
            proba_rows = None
            warnings = []
            arms_used = [""] * n
            details = {name: [None] * n for r in results.values() for name in r.details}
            first_model = _scorer(arms[0])
            width = len(first_model.class_strings)
            if first_model.kind.has_classes:
                proba_rows = np.zeros((n, width))
            for arm_index, positions in groups.items():
                prediction = results[arm_index]
                for k, p in enumerate(positions):
                    labels[p] = prediction.labels[k]
                    arms_used[p] = arms[arm_index].name
                    if proba_rows is not None and prediction.probabilities is not None:
                        proba_rows[p] = prediction.probabilities[k]
                    for name, values in prediction.details.items():
                        details[name][p] = values[k]
                for warning in prediction.warnings:
                    record = warning.get("record")
                    warnings.append(
                        {**warning, "record": positions[record] if record is not None else None}
                    )
        first = arms[min(groups)] if groups else arms[0]
        answer: dict[str, Any] = {"predictions": labels}
        if champion.kind.has_classes and proba_rows is not None:
            classes = champion.class_strings
            answer["probabilities"] = [
                dict(zip(classes, row, strict=True)) for row in proba_rows.tolist()
            ]
        answer.update(details)
        answer["model"] = {
            "name": first.model.name,
            "version": first.model.version,
            "arm": first.name,
        }
        if arms_used is not None:
            answer["arms"] = arms_used
        if warnings:
            answer["warnings"] = warnings
        return answer

    async def score_shadow(
        self, records: list[Any], request_id: str, arrived: float, synthetic: bool
    ) -> None:
        shadow = self.shadow
        assert shadow is not None
        try:
            prediction, seconds = await self._predict(shadow, records)
        except RecordsError:
            self.metrics.shadow_errors.labels(shadow.model.name, shadow.model.version).inc()
            return
        except Exception:
            _logger.exception("shadow model failed on request %s", request_id)
            self.metrics.shadow_errors.labels(shadow.model.name, shadow.model.version).inc()
            return
        self._observe(shadow, prediction, seconds)
        if self.log is not None:
            entry = _log_entry(shadow, records, prediction, latency_ms=seconds * 1000.0)
            entry.request_id, entry.ts, entry.synthetic = request_id, arrived, synthetic
            self.log.write(entry)

    # -- recommendations ---------------------------------------------------
    def recommend(
        self, route: str, payload: Any
    ) -> tuple[dict[str, Any], list[LogEntry], RecommendRequest | SimilarRequest]:
        """The answer to a /recommend or /similar-items body, its log entry and
        the request read from it (for the shadow). A user stays on one arm.

        Raises:
            RequestProblems: the body does not fit, or names unknown items.
        """
        arm, request = self._recommend_arm(route, payload)
        answer, entry, seconds = _recommendation(arm, route, request)
        arm.stats.observe(seconds, 1, (), ())
        answer["model"] = {"name": arm.model.name, "version": arm.model.version, "arm": arm.name}
        return answer, [entry], request

    def _recommend_arm(
        self, route: str, payload: Any
    ) -> tuple[Arm, RecommendRequest | SimilarRequest]:
        arms = self.arms
        champion = arms[0].model
        assert isinstance(champion, ServedRecommender)
        if route == "recommend":
            request: RecommendRequest | SimilarRequest = champion.recommend_request(payload)
            user = request.user if isinstance(request, RecommendRequest) else None
            index = self.router.pick(user)
        else:
            request = champion.similar_request(payload)
            index = self.router.pick()
        arm = arms[index]
        if index and isinstance(request, RecommendRequest):
            # the challenger may know other items: check the ids against it too
            model = arm.model
            assert isinstance(model, ServedRecommender)
            request = model.recommend_request(payload)
        return arm, request

    def recommend_shadow(
        self,
        route: str,
        request: RecommendRequest | SimilarRequest,
        request_id: str,
        arrived: float,
        synthetic: bool,
    ) -> None:
        """The shadow's list for the same request: logged, never answered."""
        shadow = self.shadow
        assert shadow is not None
        try:
            _, entry, seconds = _recommendation(shadow, route, request)
        except Exception:  # a shadow never fails the request it shadows
            _logger.exception("shadow model failed on request %s", request_id)
            self.metrics.shadow_errors.labels(shadow.model.name, shadow.model.version).inc()
            return
        shadow.stats.observe(seconds, 1, (), ())
        if self.log is not None:
            entry.request_id, entry.ts, entry.synthetic = request_id, arrived, synthetic
            entry.latency_ms = seconds * 1000.0
            self.log.write(entry)


def _scorer(arm: Arm) -> ServedModel:
    """The arm's model where only a record-scoring model gets (the ASGI layer
    sends a recommender's requests elsewhere)."""
    model = arm.model
    assert isinstance(model, ServedModel), "records reached a recommendation model"
    return model


def _recommendation(
    arm: Arm, route: str, request: RecommendRequest | SimilarRequest
) -> tuple[dict[str, Any], LogEntry, float]:
    """An arm's answer to a recommendation request, its log entry and the
    seconds it took. The logged inputs are the request's; the logged output
    the items, their scores and the fallback used, if any."""
    model = arm.model
    assert isinstance(model, ServedRecommender)
    started = time.perf_counter()
    inputs: dict[str, Any]
    if isinstance(request, RecommendRequest):
        answer, output = model.recommend(request)
        inputs = {
            "route": route,
            "user": request.user,
            "k": request.k,
            "exclude_seen": request.exclude_seen,
        }
        if request.exclude:
            inputs["exclude"] = request.exclude
    else:
        answer, output = model.similar(request)
        inputs = {"route": route, "item": request.item, "k": request.k}
    seconds = time.perf_counter() - started
    entry = LogEntry(
        request_id="",
        ts=0.0,
        model=model.name,
        version=model.version,
        arm=arm.name,
        records=[inputs],
        labels=[output],
        probabilities=None,
        classes=(),
        latency_ms=0.0,
    )
    return answer, entry, seconds


def _log_entry(
    arm: Arm,
    records: Sequence[Any],
    prediction: Prediction,
    *,
    rows: Sequence[int] | None = None,
    latency_ms: float = 0.0,
) -> LogEntry:
    """The log entry of an arm's prediction; the request's id, time and kind
    are set once it is answered."""
    model = _scorer(arm)
    return LogEntry(
        request_id="",
        ts=0.0,
        model=arm.model.name,
        version=arm.model.version,
        arm=arm.name,
        records=records,
        labels=prediction.labels,
        probabilities=prediction.probabilities,
        classes=model.class_strings,
        latency_ms=latency_ms,
        rows=rows,
        typed=model.log_record,
    )
