"""Comparing two clusterings served side by side: agreement with a ground
truth joined to the log, and the shadow arm's agreement with the champion."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from cairn.bundle import load_bundle
from cairn.exceptions import DataError
from cairn.serving.abtest import compare_arms, join_outcomes
from tests.conftest import load_dataset


def _shadow_log(champion: Any, shadow: Any) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Every penguin scored by both arms (as a shadow deployment logs it),
    and the species as the labels."""
    frame = champion.frame
    ids = {
        "champion": load_bundle(champion.path).predict(frame),
        "shadow": load_bundle(shadow.path).predict(frame),
    }
    rows = [
        {"request_id": f"r{i}", "row": 0, "arm": arm, "model": arm, "version": "1",
         "prediction": int(ids[arm][i])}
        for i in range(len(frame))
        for arm in ("champion", "shadow")
    ]  # fmt: skip
    species = load_dataset("penguins")["species"]
    labels = pd.DataFrame({"request_id": [f"r{i}" for i in range(len(frame))], "label": species})
    return pd.DataFrame(rows), labels, ids


def test_shadow_clusterings_are_compared_on_the_ground_truth(
    clustering_bundle: Callable[..., Any],
) -> None:
    champion, shadow = clustering_bundle("kmeans"), clustering_bundle("agglomerative")
    log, labels, ids = _shadow_log(champion, shadow)
    report = compare_arms(join_outcomes(log, labels), task="clustering", resamples=40)
    assert report.metrics == ["adjusted_rand", "normalized_mutual_info"]
    species = load_dataset("penguins")["species"].to_numpy()
    for arm in report.arms:
        value = arm.metrics["adjusted_rand"]
        assert value.value == pytest.approx(adjusted_rand_score(species, ids[arm.arm]))
        assert value.ci_low <= value.value <= value.ci_high
        nmi = arm.metrics["normalized_mutual_info"].value
        assert nmi == pytest.approx(normalized_mutual_info_score(species, ids[arm.arm]))
    (first, second) = report.comparisons
    assert first.test == "bootstrap, paired" and first.paired and first.n == len(species)
    assert first.difference == pytest.approx(
        adjusted_rand_score(species, ids["shadow"]) - adjusted_rand_score(species, ids["champion"])
    )
    assert second.metric == "normalized_mutual_info"
    # the arms' own agreement, whatever their ids are called
    assert report.agreement["shadow"] == pytest.approx(
        adjusted_rand_score(ids["champion"], ids["shadow"])
    )
    assert 0.5 < report.agreement["shadow"] <= 1.0


def test_relabelled_ids_agree_completely(clustering_bundle: Callable[..., Any]) -> None:
    """A shadow that only renames the clusters is the same segmentation."""
    champion = clustering_bundle("kmeans")
    log, labels, _ = _shadow_log(champion, champion)
    shadow = log["arm"] == "shadow"
    log.loc[shadow, "prediction"] = (log.loc[shadow, "prediction"] + 1) % 3
    report = compare_arms(join_outcomes(log, labels), task="clustering", resamples=50)
    assert report.agreement == {"shadow": pytest.approx(1.0)}
    assert all(abs(c.difference) < 1e-12 and not c.significant for c in report.comparisons)


def test_an_internal_index_cannot_be_compared_from_the_log(
    clustering_bundle: Callable[..., Any],
) -> None:
    made = clustering_bundle("kmeans")
    log, labels, _ = _shadow_log(made, made)
    with pytest.raises(DataError, match="'silhouette' needs the rows' features"):
        compare_arms(join_outcomes(log, labels), task="clustering", metric="silhouette")
    assert np.isfinite(compare_arms(
        join_outcomes(log, labels), task="clustering", metric="normalized_mutual_info",
        resamples=20,
    ).arms[0].metrics["normalized_mutual_info"].value)  # fmt: skip
