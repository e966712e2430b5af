"""Monitoring a recommender on MovieLens: a model trained on the ratings
before a time cut, lists served at the cut (written to a real prediction
log), judged by the ratings that came after; drift of items and users
against a random hold-out of the same period (no drift) and against years
later (drift)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cairn.bundle import Recommender
from cairn.monitoring.monitor import check_recommendations
from cairn.monitoring.recommendations import (
    jensen_shannon,
    recommendation_report,
    served_lists,
    training_profile,
)
from cairn.serving.log import LogEntry, PredictionLog, read_log
from tests.serving import movielens_bundle as ml

CAIRN = [sys.executable, "-m", "cairn"]


@pytest.fixture(scope="module")
def ratings() -> pd.DataFrame:
    return ml.ratings(users="odd", limit=150, min_item=1)


@pytest.fixture(scope="module")
def cut(ratings: pd.DataFrame) -> float:
    return float(ratings[ml.TIME].quantile(0.8))


@pytest.fixture(scope="module")
def bundle(ratings: pd.DataFrame, cut: float, tmp_path_factory: pytest.TempPathFactory) -> Path:
    before = ratings[ratings[ml.TIME] <= cut]
    return ml.save(tmp_path_factory.mktemp("monitor") / "bundle", before)


@pytest.fixture(scope="module")
def model(bundle: Path) -> Any:
    from cairn.bundle import load_bundle

    return load_bundle(bundle)


def _serve_at(
    model: Any, users: list[Any], moment: float, log_path: Path, *, arm: str = "champion"
) -> None:
    """Lists of the model for ``users`` logged as served at ``moment``, through
    the server's own log writer."""
    recommender: Recommender = model.pipeline
    log = PredictionLog(log_path).start()
    for n, user in enumerate(users):
        found = recommender.recommend(user, 10)
        entry = LogEntry(
            request_id=f"r{arm}{n}",
            ts=moment,
            model="movies",
            version="1",
            arm=arm,
            records=[{"route": "recommend", "user": user, "k": 10, "exclude_seen": True}],
            labels=[{"items": found.items, "scores": found.scores, "fallback": found.fallback}],
            probabilities=None,
            classes=(),
            latency_ms=1.0,
        )
        log.write(entry)
    log.close()


def test_served_lists_are_judged_by_what_users_did_later(
    model: Any, ratings: pd.DataFrame, cut: float, tmp_path: Path
) -> None:
    later = ratings[ratings[ml.TIME] > cut]
    users = [*sorted(later[ml.USER].unique().tolist())[:40], 10**9]
    log_path = tmp_path / "predictions.db"
    _serve_at(model, users, cut, log_path)
    served = served_lists(read_log(log_path))
    assert len(served) == len(users) and served.fallback[-1] == "popularity"
    report = recommendation_report(
        served,
        later,
        training_profile(model.pipeline),
        user=ml.USER,
        item=ml.ITEM,
        time=ml.TIME,
    )
    # recomputed here by hand: a hit is a later rating of a served item
    hits, precisions = [], []
    for user, items in zip(served.users, served.items, strict=True):
        rated = set(later.loc[later[ml.USER] == user, ml.ITEM])
        if not rated:
            continue
        found = len(rated & set(items))
        hits.append(found > 0)
        precisions.append(found / len(items))
    (champion,) = report.arms
    assert champion.active_lists == len(hits) == len(users) - 1
    assert champion.hit_rate == pytest.approx(np.mean(hits))
    assert champion.precision == pytest.approx(np.mean(precisions))
    assert champion.hit_rate > 0.2  # a trained item-kNN finds what people watch next
    served_items = {i for items in served.items for i in items}
    assert report.coverage == pytest.approx(len(served_items) / model.pipeline.n_items)
    unknown = [u for u in users if model.pipeline.user_index(u) is None]
    assert 10**9 in unknown  # users who joined after the cut are unknown too
    assert report.fallback_share == pytest.approx(len(unknown) / len(users))
    assert champion.popularity_precision is not None
    assert champion.difference_low is not None and champion.difference_high is not None


def test_interactions_before_serving_are_not_hits(
    model: Any, ratings: pd.DataFrame, cut: float, tmp_path: Path
) -> None:
    later = ratings[ratings[ml.TIME] > cut]
    users = sorted(later[ml.USER].unique().tolist())[:20]
    log_path = tmp_path / "predictions.db"
    _serve_at(model, users, float(later[ml.TIME].max()) + 1, log_path)
    report = recommendation_report(
        served_lists(read_log(log_path)),
        later,
        training_profile(model.pipeline),
        user=ml.USER,
        item=ml.ITEM,
        time=ml.TIME,
    )
    assert report.arms[0].active_lists == 0 and report.arms[0].hit_rate is None


def test_a_random_hold_out_shows_no_drift_and_years_later_do(
    model: Any, ratings: pd.DataFrame, cut: float
) -> None:
    profile = training_profile(model.pipeline)
    before = ratings[ratings[ml.TIME] <= cut]
    same_period = before.sample(n=1500, random_state=0)
    calm = recommendation_report(
        None, same_period, profile, user=ml.USER, item=ml.ITEM, time=ml.TIME
    )
    assert calm.unseen_item_share == 0.0 and calm.new_user_share == 0.0
    assert abs(calm.popularity_excess) < 0.05
    assert not calm.popularity_drifted and not calm.users_drifted
    # ratings by other users (even ids), of the years after the cut
    everyone = ml.ratings(users="even", limit=None, min_item=1)
    moved = recommendation_report(
        None,
        everyone[everyone[ml.TIME] > cut],
        profile,
        user=ml.USER,
        item=ml.ITEM,
        time=ml.TIME,
    )
    assert moved.new_user_share == 1.0 and moved.users_drifted
    assert moved.unseen_item_share > calm.unseen_item_share
    # the raw distances depend on the sample's size; the excess over sampling does not
    assert moved.popularity_excess > calm.popularity_excess + 0.1
    assert moved.popularity_drifted
    assert moved.top_new_items and moved.top_new_items[0][1] >= moved.top_new_items[-1][1]


def test_jensen_shannon_is_a_distance_in_zero_one() -> None:
    assert jensen_shannon(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)
    assert jensen_shannon(np.array([2.0, 2.0]), np.array([1.0, 1.0])) == pytest.approx(0.0)


def test_check_marks_drift_unhealthy_and_writes_the_report(
    model: Any, ratings: pd.DataFrame, cut: float, tmp_path: Path
) -> None:
    everyone = ml.ratings(users="even", limit=None, min_item=1)
    report = check_recommendations(
        everyone[everyone[ml.TIME] > cut],
        model.pipeline,
        model.metadata,
        served=None,
        user=ml.USER,
        item=ml.ITEM,
        time=ml.TIME,
    )
    assert not report.healthy and report.verdict == "unhealthy"
    drift = next(c for c in report.checks if c.name == "drift")
    assert drift.ok is False and "users new to the model" in drift.message
    assert any("only the drift" in note for note in report.notes)
    page = report.write_html(tmp_path / "report.html").read_text()
    assert "Items and users" in page
    data = json.loads(report.write_json(tmp_path / "result.json").read_text())
    assert data["recommendations"]["users_drifted"] is True


def test_cairn_monitor_on_a_recommendation_bundle(
    bundle: Path, model: Any, ratings: pd.DataFrame, cut: float, tmp_path: Path
) -> None:
    later = ratings[ratings[ml.TIME] > cut]
    users = sorted(later[ml.USER].unique().tolist())[:30]
    log_path = tmp_path / "predictions.db"
    _serve_at(model, users, cut, log_path)
    later_file = tmp_path / "later.csv"
    later.to_csv(later_file, index=False)
    out = tmp_path / "result.json"
    ran = subprocess.run(
        [
            *CAIRN,
            "monitor",
            str(later_file),
            "--model",
            str(bundle),
            "--log-path",
            str(log_path),
            "--json",
            str(out),
            "-o",
            str(tmp_path / "report.html"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert ran.returncode in (0, 2), ran.stderr
    assert "Served lists judged" in ran.stdout and "Traceback" not in ran.stderr
    result = json.loads(out.read_text())["recommendations"]
    assert result["lists"] == 30 and result["arms"][0]["active_lists"] == 30
    assert (tmp_path / "report.html").read_text().count("Served recommendations") >= 1
    missing = later.drop(columns=[ml.ITEM])
    missing.to_csv(later_file, index=False)
    bad = subprocess.run(
        [*CAIRN, "monitor", str(later_file), "--model", str(bundle), "--log-path", str(log_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert bad.returncode == 1 and "movieId" in bad.stderr + bad.stdout
    assert "Traceback" not in bad.stderr


def test_cairn_monitor_on_a_recommender_needs_the_later_interactions(
    bundle: Path, tmp_path: Path
) -> None:
    ran = subprocess.run(
        [*CAIRN, "monitor", "--model", str(bundle), "--log"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert ran.returncode == 1 and "interactions that came later" in ran.stderr + ran.stdout
    assert "Traceback" not in ran.stderr


def test_the_row_check_points_a_recommender_to_its_own(model: Any, ratings: pd.DataFrame) -> None:
    from cairn.exceptions import DataError
    from cairn.monitoring import check

    with pytest.raises(DataError, match="check_recommendations"):
        check(ratings, model)
