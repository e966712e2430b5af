"""The recommendation artifact: what top-k scoring needs, in numpy arrays.

A :class:`Recommender` holds the id maps (user and item ids as in the
training data, position = index), each known user's seen items, the
interaction count per item (the popularity fallback for unknown users) and
one or more scoring *components*:

``factors``
    user × f and item × f matrices; a user's scores are ``U[u] @ V.T``.
``item_item``
    a sparse item × item weight matrix (CSR rows: source item → the items
    it votes for); a user's scores are the sum of the rows of the items the
    user has seen (item-kNN, pruned EASE, content similarity).
``popularity``
    ``log1p`` of the interaction counts, the same for everyone.

One component scores as it is. Several are blended: each component's scores
for a user are standardised over the catalogue (mean 0, standard deviation
1) and added with the component's weight, the same way in training and in
serving. Exact ties are broken by popularity.

numpy only: the serve-only install has neither scipy nor scikit-learn.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "ARRAYS_FILE",
    "COMPONENT_KINDS",
    "INFO_FILE",
    "RecommendationList",
    "Recommender",
    "ScoringComponent",
    "popularity_tie_break",
    "standardise_scores",
]

ARRAYS_FILE = "recommender.npz"
INFO_FILE = "recommender.json"
COMPONENT_KINDS = ("factors", "item_item", "popularity")
_FORMAT = 1
# Users scored together in one dense block by recommend_many (bounds memory
# at about this many float64 cells per block).
_BLOCK_CELLS = 4_000_000
# Added to every score in proportion to the item's popularity rank so that
# exact ties (items no component scores) go to the more popular item.
_TIE_BREAK = 1e-9


@dataclass(frozen=True)
class RecommendationList:
    """A ranked list for one user or item.

    Attributes:
        items: original item ids, best first.
        scores: the score of each item (higher is better).
        fallback: None for a personal list; ``"popularity"`` when the user
            (or the item, for similar items) was unknown to the model and the
            most popular items were given instead.
    """

    items: list[Any]
    scores: list[float]
    fallback: str | None = None


@dataclass
class ScoringComponent:
    """One scorer of a recommender (see the module docstring).

    ``user_factors``/``item_factors`` are set for ``factors``; ``indptr``,
    ``indices``, ``data`` (CSR rows over items) for ``item_item``; a
    ``popularity`` component needs nothing.
    """

    kind: str
    name: str
    weight: float = 1.0
    user_factors: np.ndarray | None = field(default=None, repr=False)
    item_factors: np.ndarray | None = field(default=None, repr=False)
    indptr: np.ndarray | None = field(default=None, repr=False)
    indices: np.ndarray | None = field(default=None, repr=False)
    data: np.ndarray | None = field(default=None, repr=False)


class Recommender:
    """Top-k recommendations and similar items from a trained model.

    Args:
        user_ids: original user ids; position = user index.
        item_ids: original item ids; position = item index.
        seen_indptr, seen_indices: CSR rows (one per user) of the items each
            user interacted with in training.
        popularity: interactions per item in training.
        components: the scorers (at least one).
        description: what trained it (algorithms, parameters, weights), for
            the metadata and the model card.

    Raises:
        ValueError: the arrays do not fit together.
    """

    def __init__(
        self,
        user_ids: np.ndarray,
        item_ids: np.ndarray,
        seen_indptr: np.ndarray,
        seen_indices: np.ndarray,
        popularity: np.ndarray,
        components: Iterable[ScoringComponent],
        description: Mapping[str, Any] | None = None,
    ) -> None:
        self.user_ids = _id_array(user_ids)
        self.item_ids = _id_array(item_ids)
        self._seen_indptr = np.asarray(seen_indptr, dtype=np.int64)
        self._seen_indices = np.asarray(seen_indices, dtype=np.int32)
        self._popularity = np.asarray(popularity, dtype=np.float64)
        self.components = list(components)
        self.description: dict[str, Any] = dict(description or {})
        self._check()
        self._tie_break = popularity_tie_break(self._popularity)
        self._padded_rows: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._sparse: dict[tuple[str, int], Any] = {}
        self._user_lookup = _Lookup(self.user_ids)
        self._item_lookup = _Lookup(self.item_ids)

    def _check(self) -> None:
        n_users, n_items = len(self.user_ids), len(self.item_ids)
        if len(self._seen_indptr) != n_users + 1:
            raise ValueError(
                f"seen_indptr has {len(self._seen_indptr)} entries for {n_users} users"
            )
        if len(self._popularity) != n_items:
            raise ValueError(f"popularity has {len(self._popularity)} entries for {n_items} items")
        if len(self._seen_indices) and (
            self._seen_indices.min() < 0 or self._seen_indices.max() >= n_items
        ):
            raise ValueError("seen items hold an index outside the catalogue")
        if not self.components:
            raise ValueError("a recommender needs at least one component")
        for component in self.components:
            if component.kind not in COMPONENT_KINDS:
                raise ValueError(
                    f"component {component.name!r} has kind {component.kind!r}; "
                    f"expected one of {', '.join(COMPONENT_KINDS)}"
                )
            if component.kind == "factors":
                users, items = component.user_factors, component.item_factors
                if users is None or items is None:
                    raise ValueError(f"factors component {component.name!r} lacks its factors")
                if users.shape[0] != n_users or items.shape[0] != n_items:
                    raise ValueError(
                        f"factors component {component.name!r} has {users.shape[0]} users × "
                        f"{items.shape[0]} items; the recommender has {n_users} × {n_items}"
                    )
                if users.shape[1] != items.shape[1]:
                    raise ValueError(f"factors component {component.name!r}: widths differ")
            elif component.kind == "item_item":
                if component.indptr is None or component.indices is None or component.data is None:
                    raise ValueError(f"item_item component {component.name!r} lacks its matrix")
                if len(component.indptr) != n_items + 1:
                    raise ValueError(
                        f"item_item component {component.name!r} has {len(component.indptr) - 1} "
                        f"rows for {n_items} items"
                    )
                component.indptr = np.asarray(component.indptr, dtype=np.int64)
                component.indices = np.asarray(component.indices, dtype=np.int32)
                component.data = np.asarray(component.data, dtype=np.float32)

    # ----------------------------------------------------------------- ids

    @property
    def n_users(self) -> int:
        """Users known to the model."""
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        """Items in the catalogue."""
        return len(self.item_ids)

    @property
    def popularity(self) -> np.ndarray:
        """Interactions per item in training."""
        return self._popularity

    def user_index(self, user: Any) -> int | None:
        """The index of a user id (given as int or str alike); None when unknown."""
        return self._user_lookup.find(user)

    def item_index(self, item: Any) -> int | None:
        """The index of an item id (given as int or str alike); None when unknown."""
        return self._item_lookup.find(item)

    def seen(self, user: Any) -> list[Any]:
        """The items the user interacted with in training (empty when unknown)."""
        index = self.user_index(user)
        if index is None:
            return []
        return [_plain(v) for v in self.item_ids[self._seen_row(index)]]

    def _seen_row(self, index: int) -> np.ndarray:
        return self._seen_indices[self._seen_indptr[index] : self._seen_indptr[index + 1]]

    # ------------------------------------------------------------- scoring

    def scores(self, user_indices: np.ndarray) -> np.ndarray:
        """(users, items) blended scores of known users (before exclusions)."""
        users = np.asarray(user_indices, dtype=np.int64)
        if len(users) and (users.min() < 0 or users.max() >= self.n_users):
            raise IndexError("a user index is outside the model's users")
        total = np.zeros((len(users), self.n_items), dtype=np.float64)
        blend = len(self.components) > 1
        for component in self.components:
            part = self.component_scores(component, users)
            if blend:
                part = standardise_scores(part)
            total += component.weight * part
        return total

    def component_scores(self, component: ScoringComponent, users: np.ndarray) -> np.ndarray:
        """(users, items) raw scores of one component (before standardising)."""
        if component.kind == "factors":
            assert component.user_factors is not None and component.item_factors is not None
            if len(users) == 1:
                # einsum, not BLAS: OpenBLAS spreads even one user's product
                # over threads that then spin against the server's own work
                # (p99 of 10+ ms on a busy machine against under 1 ms).
                row = np.einsum("nf,f->n", component.item_factors, component.user_factors[users[0]])
                return np.asarray(row, dtype=np.float64)[None, :]
            return np.asarray(
                component.user_factors[users] @ component.item_factors.T, dtype=np.float64
            )
        if component.kind == "popularity":
            row = np.log1p(self._popularity)
            return np.broadcast_to(row, (len(users), self.n_items)).copy()
        return self._item_item_scores(component, users)

    def _item_item_scores(self, component: ScoringComponent, users: np.ndarray) -> np.ndarray:
        """Sum of the item-item rows of each user's seen items.

        One user (serving): the rows are kept padded to one width, so the
        user's rows are one gather and the sum one bincount, in numpy. Many
        users (evaluation, monitoring): a sparse product when scipy is
        installed, else the same gather a few users at a time.
        """
        if len(users) > 1:
            product = self._sparse_product(component, users)
            if product is not None:
                return product
        neighbours, weights = self._padded(component)
        assert component.indptr is not None
        lengths = np.diff(component.indptr)
        out = np.zeros((len(users), self.n_items), dtype=np.float64)
        # Bound the gathered (user, seen item, neighbour) triples per step.
        budget = max(1, _BLOCK_CELLS // max(neighbours.shape[1], 1))
        start = 0
        while start < len(users):
            stop, taken = start, 0
            while stop < len(users) and (stop == start or taken < budget):
                user = users[stop]
                taken += int(self._seen_indptr[user + 1] - self._seen_indptr[user])
                stop += 1
            chunk = users[start:stop]
            counts = self._seen_indptr[chunk + 1] - self._seen_indptr[chunk]
            seen = self._seen_indices[_ranges(self._seen_indptr[chunk], counts)]
            owners = np.repeat(np.arange(len(chunk), dtype=np.int64), counts)
            # Items without neighbours add nothing: leave their padding out.
            linked = lengths[seen] > 0
            seen, owners = seen[linked], owners[linked]
            if len(chunk) == 1:
                flat = neighbours[seen].ravel()
            else:
                flat = (owners[:, None] * self.n_items + neighbours[seen]).ravel()
            summed = np.bincount(
                flat, weights=weights[seen].ravel(), minlength=len(chunk) * self.n_items
            )
            out[start:stop] = summed.reshape(len(chunk), self.n_items)
            start = stop
        return out

    def _sparse_product(self, component: ScoringComponent, users: np.ndarray) -> np.ndarray | None:
        """Seen items × item-item weights with scipy, or None without it (the
        serve-only install has no scipy; it is never imported for one user)."""
        try:
            import scipy.sparse as sparse
        except ImportError:  # pragma: no cover - serve-only install
            return None
        key = ("csr", id(component))
        if key not in self._sparse:
            self._sparse[key] = sparse.csr_matrix(
                (component.data, component.indices, component.indptr),
                shape=(self.n_items, self.n_items),
            )
        counts = self._seen_indptr[users + 1] - self._seen_indptr[users]
        seen = self._seen_indices[_ranges(self._seen_indptr[users], counts)]
        history = sparse.csr_matrix(
            (
                np.ones(len(seen), dtype=np.float32),
                seen,
                np.concatenate([[0], np.cumsum(counts)]),
            ),
            shape=(len(users), self.n_items),
        )
        return np.asarray((history @ self._sparse[key]).toarray(), dtype=np.float64)

    def _padded(self, component: ScoringComponent) -> tuple[np.ndarray, np.ndarray]:
        """The component's rows as (items, widest row) neighbour and weight
        arrays; short rows are padded with weight 0."""
        key = id(component)
        if key not in self._padded_rows:
            assert component.indptr is not None and component.indices is not None
            assert component.data is not None
            lengths = np.diff(component.indptr)
            width = max(int(lengths.max(initial=0)), 1)
            neighbours = np.zeros((self.n_items, width), dtype=np.int64)
            weights = np.zeros((self.n_items, width), dtype=np.float64)
            rows = np.repeat(np.arange(self.n_items), lengths)
            slots = np.arange(len(component.indices)) - np.repeat(component.indptr[:-1], lengths)
            neighbours[rows, slots] = component.indices
            weights[rows, slots] = component.data
            self._padded_rows[key] = (neighbours, weights)
        return self._padded_rows[key]

    def recommend_many(
        self, user_indices: np.ndarray, k: int, *, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k item indices and scores of many known users (by index).

        Returns:
            (n, k) item indices, best first, ``-1`` where fewer than ``k``
            items are left; (n, k) scores, NaN in those slots.
        """
        users = np.asarray(user_indices, dtype=np.int64)
        items = np.full((len(users), k), -1, dtype=np.int64)
        values = np.full((len(users), k), np.nan, dtype=np.float64)
        block = max(1, _BLOCK_CELLS // max(self.n_items, 1))
        for start in range(0, len(users), block):
            chunk = users[start : start + block]
            scores = self.scores(chunk)
            if exclude_seen:
                counts = self._seen_indptr[chunk + 1] - self._seen_indptr[chunk]
                rows = np.repeat(np.arange(len(chunk)), counts)
                cols = self._seen_indices[_ranges(self._seen_indptr[chunk], counts)]
                scores[rows, cols] = -np.inf
            best, best_scores = self._top(scores, k)
            items[start : start + len(chunk)] = best
            values[start : start + len(chunk)] = best_scores
        return items, values

    def _top(self, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Best-first top-k of each row; excluded items hold -inf."""
        n, n_items = scores.shape
        ranked = scores + self._tie_break
        width = min(k, n_items)
        if width < n_items:
            part = np.argpartition(-ranked, width - 1, axis=1)[:, :width]
        else:
            part = np.tile(np.arange(n_items), (n, 1))
        order = np.argsort(-np.take_along_axis(ranked, part, axis=1), axis=1, kind="stable")
        best = np.take_along_axis(part, order, axis=1)
        best_scores = np.take_along_axis(scores, best, axis=1)
        empty = ~np.isfinite(best_scores)
        best = np.where(empty, -1, best)
        best_scores = np.where(empty, np.nan, best_scores)
        if width < k:
            best = np.hstack([best, np.full((n, k - width), -1, dtype=best.dtype)])
            best_scores = np.hstack([best_scores, np.full((n, k - width), np.nan)])
        return best.astype(np.int64), best_scores

    def recommend(
        self,
        user: Any,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        exclude: Iterable[Any] = (),
    ) -> RecommendationList:
        """The top-k items for one user.

        An unknown user gets the most popular items, with ``fallback`` set to
        ``"popularity"``; this never raises for an unknown user.

        Args:
            user: a user id (int or str alike).
            k: how many items.
            exclude_seen: leave out what the user interacted with in training.
            exclude: item ids never to return.

        Raises:
            KeyError: an id in ``exclude`` is not in the catalogue (the
                message names every such id).
            ValueError: ``k`` is below 1.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        excluded = self._indices_of(exclude)
        index = self.user_index(user)
        if index is None:
            scores = np.log1p(self._popularity)[None, :].copy()
            fallback: str | None = "popularity"
        else:
            scores = self.scores(np.array([index]))
            fallback = None
            if exclude_seen:
                scores[0, self._seen_row(index)] = -np.inf
        scores[0, excluded] = -np.inf
        best, best_scores = self._top(scores, k)
        return self._as_list(best[0], best_scores[0], fallback)

    def similar_items(self, item: Any, k: int = 10) -> RecommendationList:
        """The items most like ``item``: by the item-item components when the
        model has any, else by the cosine of the item factors; a model with
        neither gives the most popular items (``fallback="popularity"``).

        Raises:
            KeyError: the item is not in the catalogue.
        """
        index = self.item_index(item)
        if index is None:
            raise KeyError(f"item {item!r} is not in the model's catalogue")
        neighbours = [c for c in self.components if c.kind == "item_item"]
        factors = [c for c in self.components if c.kind == "factors"]
        fallback: str | None = None
        scores = np.zeros(self.n_items, dtype=np.float64)
        if neighbours:
            for component in neighbours:
                assert component.indptr is not None and component.indices is not None
                assert component.data is not None
                lo, hi = component.indptr[index], component.indptr[index + 1]
                row = np.zeros(self.n_items, dtype=np.float64)
                row[component.indices[lo:hi]] = component.data[lo:hi]
                peak = np.abs(row).max()
                scores += abs(component.weight) * (row / peak if peak > 0 else row)
            # Only items some component links to this one are similar to it.
            scores[scores == 0] = -np.inf
        elif factors:
            for component in factors:
                assert component.item_factors is not None
                vectors = component.item_factors
                norms = np.linalg.norm(vectors, axis=1)
                norms[norms == 0] = 1.0
                scores += (
                    abs(component.weight) * (vectors @ vectors[index]) / (norms * norms[index])
                )
        else:
            scores = np.log1p(self._popularity)
            fallback = "popularity"
        scores[index] = -np.inf
        best, best_scores = self._top(scores[None, :], k)
        return self._as_list(best[0], best_scores[0], fallback)

    def _indices_of(self, items: Iterable[Any]) -> np.ndarray:
        found, unknown = [], []
        for item in items:
            index = self.item_index(item)
            (unknown.append(item) if index is None else found.append(index))
        if unknown:
            raise KeyError(
                f"item ids not in the model's catalogue: {', '.join(map(repr, unknown))}"
            )
        return np.asarray(found, dtype=np.int64)

    def _as_list(
        self, best: np.ndarray, scores: np.ndarray, fallback: str | None
    ) -> RecommendationList:
        keep = best >= 0
        return RecommendationList(
            items=[_plain(v) for v in self.item_ids[best[keep]]],
            scores=[float(s) for s in scores[keep]],
            fallback=fallback,
        )

    # ------------------------------------------------------------- storage

    def to_files(self) -> dict[str, bytes]:
        """The artifact as bundle files: arrays in ``recommender.npz``, the
        component list and description in ``recommender.json``."""
        arrays: dict[str, np.ndarray] = {
            "user_ids": self.user_ids,
            "item_ids": self.item_ids,
            "seen_indptr": self._seen_indptr,
            "seen_indices": self._seen_indices,
            "popularity": self._popularity,
        }
        listed = []
        for position, component in enumerate(self.components):
            for name in ("user_factors", "item_factors", "indptr", "indices", "data"):
                value = getattr(component, name)
                if value is not None:
                    arrays[f"c{position}_{name}"] = np.asarray(value)
            listed.append(
                {"kind": component.kind, "name": component.name, "weight": component.weight}
            )
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
        info = {
            "format": _FORMAT,
            "n_users": self.n_users,
            "n_items": self.n_items,
            "components": listed,
            "blend": "standardised per user" if len(listed) > 1 else "none",
            "description": self.description,
        }
        return {
            ARRAYS_FILE: buffer.getvalue(),
            INFO_FILE: json.dumps(info, indent=2, default=_plain).encode("utf-8"),
        }

    @classmethod
    def from_files(cls, read: Callable[[str], bytes]) -> Recommender:
        """Load what :meth:`to_files` wrote; ``read(name)`` returns a file's bytes.

        Raises:
            ValueError: the files are not a recommender this version can read.
        """
        info = json.loads(read(INFO_FILE).decode("utf-8"))
        if info.get("format") != _FORMAT:
            raise ValueError(
                f"{INFO_FILE} has format {info.get('format')!r}; this cairn reads format {_FORMAT}"
            )
        with np.load(io.BytesIO(read(ARRAYS_FILE)), allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        components = []
        for position, entry in enumerate(info["components"]):
            parts = {
                name: arrays.get(f"c{position}_{name}")
                for name in ("user_factors", "item_factors", "indptr", "indices", "data")
            }
            components.append(
                ScoringComponent(
                    kind=entry["kind"], name=entry["name"], weight=float(entry["weight"]), **parts
                )
            )
        return cls(
            arrays["user_ids"],
            arrays["item_ids"],
            arrays["seen_indptr"],
            arrays["seen_indices"],
            arrays["popularity"],
            components,
            info.get("description"),
        )


def popularity_tie_break(popularity: np.ndarray) -> np.ndarray:
    """What ranking adds to every score so that exact ties go to the more
    popular item (far below any real score difference); training-side
    evaluation adds the same, so that it ranks as serving does."""
    popularity = np.asarray(popularity)
    order = np.argsort(popularity, kind="stable")
    ranks = np.empty(len(popularity), dtype=np.float64)
    ranks[order] = np.arange(len(popularity), dtype=np.float64)
    return _TIE_BREAK * ranks / max(len(popularity), 1)


def standardise_scores(scores: np.ndarray) -> np.ndarray:
    """Each row to mean 0 and standard deviation 1 over the catalogue (a
    constant row becomes zeros): how blended components are put on one scale."""
    scores = np.asarray(scores, dtype=np.float64)
    mean = scores.mean(axis=1, keepdims=True)
    spread = scores.std(axis=1, keepdims=True)
    return (scores - mean) / np.where(spread > 0, spread, 1.0)


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The concatenation of ``arange(s, s + c)`` for each start and count."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(np.asarray(starts, dtype=np.int64) - np.cumsum(counts) + counts, counts)
    return offsets + np.arange(total, dtype=np.int64)


def _id_array(ids: np.ndarray) -> np.ndarray:
    """Ids as int64 when they are all integers, else as strings (an npz file
    stores both without pickling)."""
    values = np.asarray(ids)
    if values.dtype.kind in "iu":
        return values.astype(np.int64)
    if values.dtype.kind == "b":
        return values.astype(str)
    if values.dtype.kind == "O" and all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values
    ):
        return values.astype(np.int64)
    return values.astype(str)


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value (ids and scores in JSON)."""
    return value.item() if isinstance(value, np.generic) else value


class _Lookup:
    """Id → index, accepting ``42`` and ``"42"`` alike for either kind of id."""

    def __init__(self, ids: np.ndarray) -> None:
        self._numeric = ids.dtype.kind in "iu"
        self._index = {_plain(v): i for i, v in enumerate(ids)}

    def find(self, value: Any) -> int | None:
        value = _plain(value)
        if isinstance(value, bool):
            value = str(value)
        if self._numeric:
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            elif isinstance(value, str):
                text = value.strip()
                if not text.lstrip("+-").isdigit():
                    return None
                value = int(text)
            if not isinstance(value, int):
                return None
        else:
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            # Text ids were stripped when the interactions were read.
            value = str(value).strip()
        return self._index.get(value)
