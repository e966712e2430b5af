"""Retraining a recommender: the new interactions split by time into what the
challenger trains on and the recent part both models are judged on; the
champion (trained on older MovieLens ratings) against a challenger trained
on more recent ones, by NDCG@10 on the same held-out users; the decision
by the maintenance policy."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cairn.bundle import load_bundle
from cairn.data.findings import QualityReport
from cairn.evaluation.evaluate import Evaluation
from cairn.exceptions import DataError
from cairn.maintenance._recommendation import compare_recommenders, hold_out_interactions
from cairn.monitoring.policy import RetrainAdvice
from cairn.spec import ProjectSpec, load_spec
from cairn.workflow import RunResult
from tests.serving import movielens_bundle as ml


@pytest.fixture(scope="module")
def ratings() -> pd.DataFrame:
    return ml.ratings(users="odd", limit=150, min_item=1)


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory, ratings: pd.DataFrame) -> ProjectSpec:
    root = tmp_path_factory.mktemp("retrain-rec")
    ratings.to_csv(root / "ratings.csv", index=False)
    ml.movies().to_csv(root / "movies.csv", index=False)
    (root / "cairn.toml").write_text(
        "\n".join(
            [
                "[project]",
                'name = "movies"',
                "[data]",
                'sources = [{ path = "ratings.csv" }, { path = "movies.csv", name = "movies" }]',
                'time_column = "timestamp"',
                "[problem]",
                'task = "recommendation"',
                'user = "userId"',
                'item = "movieId"',
                'rating = "rating"',
                "[recommendation]",
                'items = "movies"',
                "[maintenance]",
                "min_holdout_rows = 30",
                "holdout = 0.5",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    return load_spec(root / "cairn.toml")


def test_the_most_recent_interactions_are_held_out(
    spec: ProjectSpec, ratings: pd.DataFrame
) -> None:
    shuffled = ratings.sample(frac=1.0, random_state=0)
    recent = hold_out_interactions(spec, shuffled)
    assert len(recent.holdout) == int(np.ceil(len(ratings) * 0.5))
    assert recent.fresh[ml.TIME].max() <= recent.holdout[ml.TIME].min()
    assert recent.info["ordered_by"] == ml.TIME
    with pytest.raises(DataError, match="movieId"):
        hold_out_interactions(spec, ratings.drop(columns=[ml.ITEM]))
    with pytest.raises(DataError, match="min_holdout_rows = 30"):
        hold_out_interactions(spec, ratings.head(20))
    with pytest.raises(DataError, match="no new interactions"):
        hold_out_interactions(spec, ratings.head(0))


def _run(spec: ProjectSpec, bundle: Path) -> RunResult:
    """The parts of a challenger's run the comparison reads, around a real model."""
    evaluation = Evaluation("recommendation", "ndcg@10", {}, {})
    return RunResult(
        run_id="challenger",
        spec=spec,
        leaderboard=pd.DataFrame(),
        evaluation=evaluation,
        quality=QualityReport(),
        bundle_path=bundle,
        model=load_bundle(bundle),
    )


def _ndcg(listed: list[int], relevant: set[int], k: int = 10) -> float:
    gains = [1.0 / np.log2(rank + 2) for rank, item in enumerate(listed[:k]) if item in relevant]
    ideal = sum(1.0 / np.log2(rank + 2) for rank in range(min(len(relevant), k)))
    return float(sum(gains) / ideal)


def test_challenger_on_recent_data_is_compared_by_ndcg_on_the_same_users(
    spec: ProjectSpec, ratings: pd.DataFrame, tmp_path: Path
) -> None:
    old_cut, new_cut = ratings[ml.TIME].quantile([0.5, 0.8]).tolist()
    champion = load_bundle(ml.save(tmp_path / "champion", ratings[ratings[ml.TIME] <= old_cut]))
    challenger = ml.save(tmp_path / "challenger", ratings[ratings[ml.TIME] <= new_cut])
    holdout = ratings[ratings[ml.TIME] > new_cut].reset_index(drop=True)
    result = compare_recommenders(
        spec,
        champion,
        _run(spec, challenger),
        holdout,
        champion_version="1",
        challenger_version="2",
        advice=RetrainAdvice(False),
        data={},
    )
    relevant = holdout[holdout["rating"] >= 4.0]
    users = list(dict.fromkeys(relevant[ml.USER].tolist()))
    comparison = result.comparison
    assert comparison is not None and comparison.n == len(users)
    # NDCG@10 recomputed here for the champion, user by user
    expected = np.mean(
        [
            _ndcg(
                champion.pipeline.recommend(user, 10).items,
                set(relevant.loc[relevant[ml.USER] == user, ml.ITEM]),
            )
            for user in users
        ]
    )
    assert result.champion_metrics["ndcg@10"] == pytest.approx(expected)
    assert comparison.champion == pytest.approx(expected)
    assert {"precision@10", "recall@10", "map@10", "hit_rate@10", "coverage@10"} <= set(
        result.challenger_metrics
    )
    assert comparison.low is not None and comparison.low <= comparison.improvement
    assert comparison.improvement <= (comparison.high or 0.0)
    # trained on 30 % more of the period, the challenger knows the recent users
    assert comparison.improvement > 0 and result.decision == "promoted"
    assert any("beats the champion on ndcg@10" in r for r in result.reasons)
    assert result.data["compared_users"] == len(users)


def test_a_challenger_no_better_is_not_promoted(
    spec: ProjectSpec, ratings: pd.DataFrame, tmp_path: Path
) -> None:
    cut = ratings[ml.TIME].quantile(0.8)
    same = ml.save(tmp_path / "same", ratings[ratings[ml.TIME] <= cut])
    holdout = ratings[ratings[ml.TIME] > cut].reset_index(drop=True)
    result = compare_recommenders(
        spec,
        load_bundle(same),
        _run(spec, same),
        holdout,
        champion_version="1",
        challenger_version="2",
        advice=RetrainAdvice(False),
        data={},
    )
    assert result.comparison is not None and result.comparison.improvement == 0.0
    assert result.decision == "kept"
    assert any("does not beat" in r for r in result.reasons)


def test_a_decision_with_ranking_metrics_is_recorded(tmp_path: Path) -> None:
    """MLflow refuses '@' in a metric name: ``ndcg@10`` is recorded as ``ndcg_10``."""
    from mlflow.tracking import MlflowClient

    from cairn.tracking import record_decision, tracking_uri

    run_id = record_decision(
        project="movies",
        project_dir=tmp_path,
        configured_uri=None,
        decision="kept",
        evidence={"decision": "kept"},
        metrics={"challenger_ndcg@10": 0.25, "champion_ndcg@10": 0.2},
    )
    logged = MlflowClient(tracking_uri(tmp_path, None)).get_run(run_id).data.metrics
    assert logged == {"challenger_ndcg_10": 0.25, "champion_ndcg_10": 0.2}


def test_retrain_runs_the_workflow_on_old_and_new_interactions(
    ratings: pd.DataFrame, tmp_path: Path
) -> None:
    """The whole loop: a champion from ``cairn.run`` on the older ratings,
    ``retrain`` with the newer ones, a decision recorded in the registry."""
    import cairn
    from cairn.maintenance import retrain
    from cairn.tracking import CHAMPION, alias_version, tracking_uri

    cut = ratings[ml.TIME].quantile(0.8)
    ratings[ratings[ml.TIME] <= cut].to_csv(tmp_path / "ratings.csv", index=False)
    (tmp_path / "cairn.toml").write_text(
        "\n".join(
            [
                "[project]",
                'name = "movies"',
                "[data]",
                'sources = [{ path = "ratings.csv" }]',
                'time_column = "timestamp"',
                "[problem]",
                'task = "recommendation"',
                'user = "userId"',
                'item = "movieId"',
                'rating = "rating"',
                "[recommendation]",
                'algorithms = ["popularity", "item_knn"]',
                "[train]",
                "time_budget = 6",
                "[maintenance]",
                "min_holdout_rows = 30",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    spec = load_spec(tmp_path / "cairn.toml")
    cairn.run(spec, register=True)
    newer = ratings[ratings[ml.TIME] > cut]
    result = retrain(spec, newer, time_budget=6)
    assert result.decision in ("promoted", "kept") and result.challenger_version == "2"
    assert result.comparison is not None and result.comparison.metric == "ndcg@10"
    assert result.comparison.n == result.data["compared_users"] > 0
    held_out = math.ceil(len(newer) * spec.maintenance.holdout)
    assert result.data["holdout_interactions"] == held_out
    assert result.data["new_interactions_trained_on"] == len(newer) - held_out
    assert result.evidence_path is not None and result.evidence_path.is_file()
    champion = alias_version("movies", CHAMPION, tracking_uri=tracking_uri(tmp_path, None))
    assert champion == ("2" if result.promoted else "1")
