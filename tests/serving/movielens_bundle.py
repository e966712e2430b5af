"""Recommendation bundles built from the MovieLens ratings for the serving,
monitoring and maintenance tests: an item-kNN (cosine of who watched what,
top neighbours per item) blended with popularity, computed here with numpy
on the ratings given, and saved the way ``cairn run`` lays a bundle out."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cairn.bundle import Recommender, ScoringComponent, save_bundle
from cairn.data.schema import ColumnSchema, Role, Schema
from tests.conftest import load_dataset

USER, ITEM, TIME = "userId", "movieId", "timestamp"


def ratings(*, users: str = "odd", limit: int | None = 150, min_item: int = 3) -> pd.DataFrame:
    """MovieLens ratings of some users (odd or even ids, the first ``limit``),
    items rated by at least ``min_item`` of them."""
    frame = load_dataset("movielens_small_ratings")
    ids = np.sort(frame[USER].unique())
    if users != "all":
        ids = ids[ids % 2 == (1 if users == "odd" else 0)]
    if limit is not None:
        ids = ids[:limit]
    frame = frame[frame[USER].isin(ids)]
    counts = frame[ITEM].value_counts()
    kept = frame[frame[ITEM].isin(counts.index[counts >= min_item])]
    return kept.sort_values(TIME, kind="stable").reset_index(drop=True)


def movies() -> pd.DataFrame:
    return load_dataset("movielens_small_movies")


def item_knn(frame: pd.DataFrame, *, neighbours: int = 40, popularity: float = 0.2) -> Recommender:
    """Cosine item-kNN of the binary interactions, blended with popularity."""
    user_ids, users = np.unique(frame[USER].to_numpy(), return_inverse=True)
    item_ids, items = np.unique(frame[ITEM].to_numpy(), return_inverse=True)
    seen = np.zeros((len(user_ids), len(item_ids)), dtype=np.float32)
    seen[users, items] = 1.0
    norms = np.sqrt(seen.sum(axis=0))
    norms[norms == 0] = 1.0
    n_items = len(item_ids)
    width = min(neighbours, n_items - 1)
    rows = np.zeros((n_items, width), dtype=np.int64)
    weights = np.zeros((n_items, width), dtype=np.float32)
    for start in range(0, n_items, 1000):
        block = (seen[:, start : start + 1000].T @ seen) / norms[start : start + 1000, None]
        block /= norms[None, :]
        block[np.arange(block.shape[0]), np.arange(start, start + block.shape[0])] = 0.0
        best = np.argpartition(-block, width - 1, axis=1)[:, :width]
        rows[start : start + len(block)] = best
        weights[start : start + len(block)] = np.take_along_axis(block, best, axis=1)
    indptr = np.arange(0, n_items * width + 1, width, dtype=np.int64)
    nonzero_rows, nonzero_cols = np.nonzero(seen)
    per_user = np.bincount(nonzero_rows, minlength=len(user_ids))
    seen_indptr = np.concatenate([[0], np.cumsum(per_user)])
    components = [
        ScoringComponent(
            "item_item",
            "item_knn",
            1.0,
            indptr=indptr,
            indices=rows.ravel(),
            data=weights.ravel(),
        ),
        ScoringComponent("popularity", "popularity", popularity),
    ]
    return Recommender(
        user_ids,
        item_ids,
        seen_indptr,
        nonzero_cols,
        seen.sum(axis=0),
        components,
        {"model": "item_knn+popularity", "neighbours": width},
    )


def save(
    path: Path,
    frame: pd.DataFrame,
    *,
    titles: bool = True,
    name: str = "movies",
    metrics: dict[str, float] | None = None,
    neighbours: int = 40,
) -> Path:
    """A signed recommendation bundle of an item-kNN trained on ``frame``."""
    model = item_knn(frame, neighbours=neighbours)
    schema = Schema(
        columns=(ColumnSchema(USER, Role.ID, "int"), ColumnSchema(ITEM, Role.ID, "int")),
        target=None,
        task="recommendation",
    )
    files = model.to_files()
    if titles:
        table = movies()
        table = table[table[ITEM].isin(model.item_ids)]
        buffer = io.BytesIO()
        table.to_parquet(buffer, index=False)
        files["items.parquet"] = buffer.getvalue()
    metadata: dict[str, Any] = {
        "name": name,
        "task": "recommendation",
        "metric": "ndcg@10",
        "model": "item_knn",
        "run_id": f"test-{name}",
        "metrics": metrics or {},
        "recommendation": {
            "user": USER,
            "item": ITEM,
            "rating": "rating",
            "time": TIME,
            "relevance_threshold": 4.0,
            "k": 10,
            "exclude_seen": True,
            "components": [c.name for c in model.components],
            "items_table": titles,
            "n_users": model.n_users,
            "n_items": model.n_items,
            "split": {},
        },
    }
    return save_bundle(path, model, schema, metadata, files=files)
