"""A recommendation bundle made ready to answer ``/recommend`` and ``/similar-items``.

The bundle's scoring artifact (:class:`cairn.bundle.Recommender`) is read
from its own files with numpy alone (nothing is unpickled), after every
file's hash was checked. Item titles come from the bundle's
``items.parquet`` when it has one.

Request bodies are read here into :class:`RecommendRequest` and
:class:`SimilarRequest`; a body that does not fit raises
:class:`RequestProblems` with one problem per key (the ASGI layer answers
422 with them), naming unknown item ids. An unknown user is not an error:
the model's fallback answers and a warning says so.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.bundle import ITEMS_FILE
from cairn.data.schema import Schema
from cairn.exceptions import BundleError, ServingError

if TYPE_CHECKING:
    from cairn.bundle import Recommender, VerifiedBundle

__all__ = [
    "ITEMS_FILE",
    "MAX_K",
    "RECOMMENDATION",
    "RecommendRequest",
    "RequestProblems",
    "ServedRecommender",
    "SimilarRequest",
    "is_recommendation",
    "load_served_recommender",
]

RECOMMENDATION = "recommendation"
#: The longest list one request may ask for.
MAX_K = 1000
#: Items one request may exclude by id.
MAX_EXCLUDE = 10_000
#: Known users /metadata names, for load tests and examples.
EXAMPLE_USERS = 200
_TITLE_NAMES = ("title", "name", "label")


def is_recommendation(metadata: dict[str, Any], schema: Schema) -> bool:
    """Whether a bundle holds a recommender (its metadata or schema says so)."""
    return metadata.get("task") == RECOMMENDATION or schema.task == RECOMMENDATION


class RequestProblems(Exception):  # noqa: N818 - a carrier of problems, answered as 422
    """A request body that does not fit; ``problems`` as the 422 answer lists them."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(str(p["msg"]) for p in problems))
        self.problems = problems


def _problem(key: str, message: str, kind: str = "value_error") -> dict[str, Any]:
    return {"loc": ["body", key], "msg": message, "type": kind}


@dataclass
class RecommendRequest:
    """``POST /recommend``: whom to recommend to, how many, what to leave out."""

    user: Any
    k: int
    exclude_seen: bool
    exclude: list[Any] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


@dataclass
class SimilarRequest:
    """``POST /similar-items``: the item and how many neighbours."""

    item: Any
    k: int
    ignored: list[str] = field(default_factory=list)


def _is_id(value: Any) -> bool:
    # bool is an int in Python, but true/false is never anyone's id
    return isinstance(value, str | int) and not isinstance(value, bool)


def _shown(values: list[Any], limit: int = 20) -> str:
    text = ", ".join(repr(v) for v in values[:limit])
    return text + (f" and {len(values) - limit} more" if len(values) > limit else "")


class ServedRecommender:
    """A recommendation model, loaded and checked, answering lists of items.

    Attributes mirror :class:`~cairn.serving.engine.ServedModel` where the
    service needs them (name, version, engine, schema, metadata, serving).
    """

    task = RECOMMENDATION
    engine = "numpy"
    engine_reason = ""
    blocking = False

    def __init__(
        self,
        *,
        path: Path,
        metadata: dict[str, Any],
        schema: Schema,
        recommender: Recommender,
        titles: list[str | None] | None = None,
        version: str | None = None,
        source: str | None = None,
    ) -> None:
        self.path = path
        self.metadata = metadata
        self.schema = schema
        self.serving: dict[str, Any] = {}
        self.recommender = recommender
        self.name = str(metadata.get("name", path.name))
        self.version = str(version or metadata.get("run_id", "local"))
        self.source = source or str(path)
        settings = metadata.get("recommendation") or {}
        self.user_column = str(settings.get("user") or "user")
        self.item_column = str(settings.get("item") or "item")
        self.default_k = int(settings.get("k") or 10)
        self.default_exclude_seen = bool(settings.get("exclude_seen", True))
        self.max_k = max(1, min(MAX_K, recommender.n_items))
        self.default_k = min(self.default_k, self.max_k)
        # one title per item index, or None without an item table
        self.titles = titles

    # -- requests ----------------------------------------------------------
    def _k(self, payload: dict[str, Any], problems: list[dict[str, Any]]) -> int:
        k = payload.get("k", self.default_k)
        if not isinstance(k, int) or isinstance(k, bool):
            problems.append(_problem("k", f"k must be a whole number, got {k!r}", "type_error"))
            return self.default_k
        if not 1 <= k <= self.max_k:
            problems.append(
                _problem("k", f"k = {k} is out of range: ask for 1 to {self.max_k} items")
            )
        return k

    def recommend_request(self, payload: Any) -> RecommendRequest:
        """The request in a /recommend body.

        Raises:
            RequestProblems: a missing or malformed key, k out of range, or
                ids in ``exclude`` that are not in the catalogue.
        """
        if not isinstance(payload, dict):
            raise RequestProblems(
                [
                    {
                        "loc": ["body"],
                        "msg": 'expected an object {"user": ..., "k": 10, "exclude_seen": true}',
                        "type": "type_error",
                    }
                ]
            )
        problems: list[dict[str, Any]] = []
        user = payload.get("user")
        if "user" not in payload:
            problems.append(_problem("user", "the user to recommend to is missing", "missing"))
        elif not _is_id(user):
            problems.append(
                _problem("user", f"user must be an id (text or a whole number), got {user!r}")
            )
        k = self._k(payload, problems)
        exclude_seen = payload.get("exclude_seen", self.default_exclude_seen)
        if not isinstance(exclude_seen, bool):
            problems.append(
                _problem(
                    "exclude_seen", f"exclude_seen must be true or false, got {exclude_seen!r}"
                )
            )
        exclude = payload.get("exclude", [])
        if exclude is None:
            exclude = []
        if not isinstance(exclude, list):
            problems.append(_problem("exclude", "exclude must be a list of item ids"))
            exclude = []
        elif len(exclude) > MAX_EXCLUDE:
            problems.append(
                _problem("exclude", f"{len(exclude)} items to exclude; the limit is {MAX_EXCLUDE}")
            )
        else:
            self._check_items("exclude", exclude, problems)
        if problems:
            raise RequestProblems(problems)
        ignored = sorted(set(payload) - {"user", "k", "exclude_seen", "exclude"})
        return RecommendRequest(user, k, exclude_seen, list(exclude), ignored)

    def similar_request(self, payload: Any) -> SimilarRequest:
        """The request in a /similar-items body.

        Raises:
            RequestProblems: a missing or unknown item, or k out of range.
        """
        if not isinstance(payload, dict):
            raise RequestProblems(
                [
                    {
                        "loc": ["body"],
                        "msg": 'expected an object {"item": ..., "k": 10}',
                        "type": "type_error",
                    }
                ]
            )
        problems: list[dict[str, Any]] = []
        if "item" not in payload:
            problems.append(
                _problem("item", "the item to find neighbours of is missing", "missing")
            )
        else:
            self._check_items("item", [payload["item"]], problems)
        k = self._k(payload, problems)
        if problems:
            raise RequestProblems(problems)
        return SimilarRequest(payload["item"], k, sorted(set(payload) - {"item", "k"}))

    def _check_items(self, key: str, items: list[Any], problems: list[dict[str, Any]]) -> None:
        malformed = [item for item in items if not _is_id(item)]
        if malformed:
            problems.append(
                _problem(key, f"item ids must be text or whole numbers, got {_shown(malformed)}")
            )
            return
        unknown = [item for item in items if self.recommender.item_index(item) is None]
        if unknown:
            problems.append(
                _problem(
                    key,
                    f"unknown item id(s) {_shown(unknown)}: not in the model's catalogue of "
                    f"{self.recommender.n_items} items",
                    "unknown_item",
                )
            )

    # -- answers -----------------------------------------------------------
    def _items(self, ids: list[Any], scores: list[float]) -> list[dict[str, Any]]:
        titles = self.titles
        out = []
        for item, score in zip(ids, scores, strict=True):
            entry: dict[str, Any] = {"item": _plain(item), "score": float(score)}
            if titles is not None:
                index = self.recommender.item_index(item)
                entry["title"] = titles[index] if index is not None else None
            out.append(entry)
        return out

    def recommend(self, request: RecommendRequest) -> tuple[dict[str, Any], dict[str, Any]]:
        """The answer's body (without model and request id) and the logged output."""
        found = self.recommender.recommend(
            request.user, request.k, exclude_seen=request.exclude_seen, exclude=request.exclude
        )
        warnings: list[dict[str, Any]] = []
        if found.fallback is not None:
            warnings.append(
                {
                    "record": None,
                    "column": "user",
                    "message": f"user {request.user!r} is unknown to the model (no interactions "
                    f"in its training data): the {found.fallback} fallback answered",
                }
            )
        if len(found.items) < request.k:
            warnings.append(
                {
                    "record": None,
                    "column": "k",
                    "message": f"only {len(found.items)} of the {request.k} items asked for are "
                    "left once seen and excluded items are removed",
                }
            )
        _note_ignored(request.ignored, warnings)
        items = [_plain(i) for i in found.items]
        scores = [float(s) for s in found.scores]
        answer = {
            "user": request.user,
            "items": self._items(items, scores),
            "fallback": found.fallback,
            "warnings": warnings,
        }
        logged = {"items": items, "scores": scores, "fallback": found.fallback}
        return answer, logged

    def similar(self, request: SimilarRequest) -> tuple[dict[str, Any], dict[str, Any]]:
        """The answer's body (without model and request id) and the logged output."""
        try:
            found = self.recommender.similar_items(request.item, request.k)
        except KeyError:
            raise RequestProblems(
                [_problem("item", f"unknown item id {request.item!r}", "unknown_item")]
            ) from None
        warnings: list[dict[str, Any]] = []
        if found.fallback is not None:
            warnings.append(
                {
                    "record": None,
                    "column": "item",
                    "message": f"the model holds no item similarities: the {found.fallback} "
                    "fallback answered",
                }
            )
        _note_ignored(request.ignored, warnings)
        items = [_plain(i) for i in found.items]
        scores = [float(s) for s in found.scores]
        answer: dict[str, Any] = {"item": request.item}
        if self.titles is not None:
            index = self.recommender.item_index(request.item)
            answer["title"] = self.titles[index] if index is not None else None
        answer.update({"items": self._items(items, scores), "warnings": warnings})
        return answer, {"items": items, "scores": scores}

    # -- what the service asks of every model ------------------------------
    def predict(self, records: Any) -> Any:
        raise ServingError(
            "this model recommends items: POST /recommend {'user': ..., 'k': 10} "
            "or /similar-items {'item': ..., 'k': 10}"
        )

    def example_users(self, count: int = EXAMPLE_USERS) -> list[Any]:
        """Known users spread evenly over the model's users."""
        ids = self.recommender.user_ids
        if len(ids) == 0:
            return []
        step = max(1, len(ids) // count)
        return [_plain(u) for u in ids[::step][:count]]

    def example_items(self, count: int = EXAMPLE_USERS) -> list[Any]:
        """The most popular items, for examples and load tests."""
        import numpy as np

        order = np.argsort(-np.asarray(self.recommender.popularity), kind="stable")[:count]
        return [_plain(self.recommender.item_ids[int(i)]) for i in order]

    def warm(self, rounds: int = 20) -> None:
        """Score a few known and unknown users so the first request pays no start-up."""
        users = self.example_users(rounds) or [None]
        for user in users:
            self.recommender.recommend(user, self.default_k)
        items = self.example_items(3)
        for item in items:
            try:
                self.recommender.similar_items(item, self.default_k)
            except (KeyError, ServingError, BundleError):  # pragma: no cover - a model without it
                break

    def describe(self) -> dict[str, Any]:
        """What /metadata says about this model."""
        meta = self.metadata
        settings = meta.get("recommendation") or {}
        return {
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "task": RECOMMENDATION,
            "target": None,
            "classes": None,
            "clusters": None,
            "model": meta.get("model"),
            "model_label": meta.get("model_label"),
            "run_id": meta.get("run_id"),
            "created_at": meta.get("created_at"),
            "engine": {"name": self.engine, "reason": "", "verification": {}},
            "metrics": meta.get("metrics", {}),
            "objectives": meta.get("objectives", []),
            "objectives_met": meta.get("objectives_met"),
            "schema": {
                "columns": [
                    {"name": c.name, "role": str(c.role), "dtype": c.dtype, "required": False}
                    for c in self.schema.columns
                ]
            },
            "recommendation": {
                "user": self.user_column,
                "item": self.item_column,
                "k": self.default_k,
                "max_k": self.max_k,
                "exclude_seen": self.default_exclude_seen,
                "n_users": self.recommender.n_users,
                "n_items": self.recommender.n_items,
                "components": settings.get("components")
                or self.recommender.description.get("components"),
                "titles": self.titles is not None,
                "example_users": self.example_users(),
                "example_items": self.example_items(20),
            },
        }


def _note_ignored(ignored: list[str], warnings: list[dict[str, Any]]) -> None:
    if ignored:
        warnings.append(
            {"record": None, "column": None, "message": f"ignored key(s): {', '.join(ignored)}"}
        )


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value JSON writes."""
    return value.item() if hasattr(value, "item") else value


def _titles(bundle: VerifiedBundle, recommender: Recommender, item_column: str) -> list[Any] | None:
    """One title per item index from the bundle's item table, or None without one."""
    if not bundle.has(ITEMS_FILE):
        return None
    import pandas as pd

    try:
        table = pd.read_parquet(io.BytesIO(bundle.read(ITEMS_FILE)))
    except (ValueError, OSError) as error:
        raise BundleError(
            f"{bundle.folder / ITEMS_FILE}: unreadable item table ({error})"
        ) from None
    if item_column not in table.columns:
        raise BundleError(
            f"{bundle.folder / ITEMS_FILE}: the item table has no column {item_column!r} "
            f"(columns: {', '.join(map(str, table.columns[:20]))})"
        )
    text = [
        c
        for c in table.columns
        if c != item_column
        and (pd.api.types.is_string_dtype(table[c]) or pd.api.types.is_object_dtype(table[c]))
    ]
    named = [c for c in text if str(c).lower() in _TITLE_NAMES]
    if not (named or text):
        return None
    column = (named or text)[0]
    titles: list[Any] = [None] * recommender.n_items
    for item, title in zip(table[item_column].tolist(), table[column].tolist(), strict=True):
        index = recommender.item_index(item)
        if index is not None and isinstance(title, str):
            titles[index] = title
    return titles


def load_served_recommender(
    bundle: VerifiedBundle,
    schema: Schema,
    *,
    engine: str = "auto",
    version: str | None = None,
    source: str | None = None,
) -> ServedRecommender:
    """The recommender of a verified bundle, read from its numpy files.

    Raises:
        ServingError: ONNX was asked for (a recommender has no graph).
        BundleError: the recommender's files or the item table are missing or unreadable.
    """
    if engine == "onnx":
        raise ServingError(
            f"{bundle.folder}: a recommendation model has no ONNX graph; serve it with "
            "--engine auto (it scores with numpy)"
        )
    from cairn.bundle import Recommender

    try:
        recommender = Recommender.from_files(bundle.read)
    except BundleError:
        raise
    except (KeyError, ValueError, OSError) as error:
        raise BundleError(
            f"{bundle.folder}: the recommender's files cannot be read ({error}); "
            "re-run 'cairn run' to write the bundle again"
        ) from None
    settings = bundle.metadata.get("recommendation") or {}
    # the schema's columns are the user's and the item's, in that order
    item_column = settings.get("item") or (schema.names[1] if len(schema.names) > 1 else "item")
    titles = _titles(bundle, recommender, str(item_column))
    return ServedRecommender(
        path=bundle.folder,
        metadata=bundle.metadata,
        schema=schema,
        recommender=recommender,
        titles=titles,
        version=version,
        source=source,
    )
