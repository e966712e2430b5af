"""Monitoring a clustering: how the rows spread over the clusters, and how
well the clusters still separate the rows.

The reference keeps, for a clustering model, the training rows' count per
cluster id and the silhouette of the training rows in the model's prepared
matrix (the mean and spread of the per-row silhouette values on a seeded
sample). A batch is then checked for:

* **cluster-share drift**: the batch's count per cluster against training's,
  by the test the ``[monitoring]`` section picks for a categorical column
  (chi-square up to ``stat_test_max_rows`` rows, Jensen–Shannon above);
  each cluster's share is also tested on its own (two-proportion z-test,
  corrected for multiple testing like the features), which names the
  clusters that grew or shrank;
* **cluster quality**: the silhouette of the batch under the model's own
  assignment. It is flagged when it fell by more than ``silhouette_drop``
  below training's and the fall is significant (one-sided z-test on the
  per-row values), so that noise alone does not raise it.

Nothing here imports training code at module level; the silhouette loads
scikit-learn when it is measured.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from cairn._io import json_safe
from cairn.monitoring._drift_stats import categorical_stats, choose_test, threshold
from cairn.monitoring.drift import ColumnChange, correct_p_values
from cairn.monitoring.profiles import (
    SILHOUETTE_SAMPLE,
    CategoricalProfile,
    ClusterProfile,
    as_cluster_ids,
    cluster_profile,
    row_silhouettes,
)
from cairn.spec import MonitoringSection

__all__ = [
    "SILHOUETTE_SAMPLE",
    "ClusterProfile",
    "ClusterReport",
    "ClusterShare",
    "cluster_check",
    "cluster_profile",
    "row_silhouettes",
]


@dataclass(frozen=True)
class ClusterShare:
    """One cluster's share of the rows, in training and now.

    Attributes:
        change: ``grew`` or ``shrank`` when its share moved significantly,
            else empty.
    """

    cluster: int
    reference_share: float
    current_share: float
    current_rows: int
    p_value: float
    p_adjusted: float
    change: str = ""

    @property
    def difference(self) -> float:
        return self.current_share - self.reference_share


@dataclass
class ClusterReport:
    """Cluster shares and cluster quality of one batch against training.

    Attributes:
        test: the share test that decides (``chi2``, ``jensenshannon`` or ``psi``).
        statistic: its value; ``p_value`` for chi-square.
        shares_drifted: the spread over the clusters changed.
        clusters: per cluster id, its shares and own test.
        unknown_rows: rows given an id the model did not have in training.
        silhouette_reference, silhouette_current: mean silhouette in
            training and on the batch (None: not measured).
        silhouette_p: one-sided p-value that the silhouette fell.
        quality_dropped: the fall passed ``silhouette_drop`` and is significant.
        findings: the clusters that grew or shrank, and the quality drop.
    """

    n_reference: int
    n_current: int
    test: str
    statistic: float
    threshold: float
    p_value: float | None
    shares_drifted: bool
    clusters: list[ClusterShare]
    unknown_rows: int = 0
    silhouette_reference: float | None = None
    silhouette_current: float | None = None
    silhouette_p: float | None = None
    silhouette_threshold: float = 0.0
    quality_dropped: bool = False
    findings: list[ColumnChange] = field(default_factory=list)

    @property
    def grew(self) -> list[int]:
        return [c.cluster for c in self.clusters if c.change == "grew"]

    @property
    def shrank(self) -> list[int]:
        return [c.cluster for c in self.clusters if c.change == "shrank"]

    @property
    def silhouette_drop(self) -> float | None:
        if self.silhouette_reference is None or self.silhouette_current is None:
            return None
        return self.silhouette_reference - self.silhouette_current

    def moved_text(self) -> str:
        """``cluster 2 grew, clusters 0, 1 shrank``; empty when none moved."""
        return _moved_text(self)

    def shares_message(self) -> str:
        if not self.shares_drifted:
            return f"cluster shares stable ({_test_text(self)})"
        named = _moved_text(self) or "no single cluster stands out"
        return f"cluster shares drifted ({_test_text(self)}): {named}"

    def quality_message(self) -> str:
        if self.silhouette_current is None or self.silhouette_reference is None:
            return "silhouette not measured"
        text = (
            f"silhouette {self.silhouette_reference:.3f} in training, "
            f"{self.silhouette_current:.3f} now"
        )
        if self.quality_dropped:
            return (
                f"{text}: the clusters separate the rows less well (a drop above "
                f"{self.silhouette_threshold:g})"
            )
        return text

    def summary(self) -> str:
        return f"{self.shares_message()}; {self.quality_message()}"

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                "n_reference": self.n_reference,
                "n_current": self.n_current,
                "test": self.test,
                "statistic": self.statistic,
                "threshold": self.threshold,
                "p_value": self.p_value,
                "shares_drifted": self.shares_drifted,
                "grew": self.grew,
                "shrank": self.shrank,
                "unknown_rows": self.unknown_rows,
                "clusters": [{**asdict(c), "difference": c.difference} for c in self.clusters],
                "silhouette_reference": self.silhouette_reference,
                "silhouette_current": self.silhouette_current,
                "silhouette_drop": self.silhouette_drop,
                "silhouette_p": self.silhouette_p,
                "silhouette_threshold": self.silhouette_threshold,
                "quality_dropped": self.quality_dropped,
                "findings": [asdict(f) for f in self.findings],
                "summary": self.summary(),
            }
        )


def _moved_text(report: ClusterReport) -> str:
    """``cluster 2 grew, clusters 0, 1 shrank``; empty when none moved."""
    parts = [
        f"cluster{'s' if len(ids) > 1 else ''} {', '.join(map(str, ids))} {word}"
        for word, ids in (("grew", report.grew), ("shrank", report.shrank))
        if ids
    ]
    return ", ".join(parts)


def _test_text(report: ClusterReport) -> str:
    if report.p_value is not None:
        return f"{report.test} p = {report.p_value:.2g}"
    return f"{report.test} {report.statistic:.3g}, threshold {report.threshold:g}"


def _share_tests(
    reference: ClusterProfile, counts: np.ndarray, settings: MonitoringSection
) -> list[ClusterShare]:
    """Each cluster's share now against training: two-proportion z-tests,
    corrected like the features' tests."""
    n_ref, n_cur = reference.n, int(counts.sum())
    ref = np.asarray(reference.counts, dtype=float)
    p_ref, p_cur = ref / max(n_ref, 1), counts / max(n_cur, 1)
    pooled = (ref + counts) / max(n_ref + n_cur, 1)
    spread = np.sqrt(pooled * (1 - pooled) * (1 / max(n_ref, 1) + 1 / max(n_cur, 1)))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(spread > 0, (p_cur - p_ref) / spread, 0.0)
    p_values = 2 * stats.norm.sf(np.abs(z))
    adjusted = correct_p_values(p_values.tolist(), settings.correction)
    shares = []
    for index, cluster in enumerate(reference.ids):
        moved = bool(adjusted[index] < settings.significance)
        change = ("grew" if p_cur[index] > p_ref[index] else "shrank") if moved else ""
        shares.append(
            ClusterShare(
                cluster=cluster,
                reference_share=float(p_ref[index]),
                current_share=float(p_cur[index]),
                current_rows=int(counts[index]),
                p_value=float(p_values[index]),
                p_adjusted=float(adjusted[index]),
                change=change,
            )
        )
    return shares


def _silhouette_fall(
    reference: ClusterProfile, current: np.ndarray | None
) -> tuple[float | None, float | None]:
    """The batch's mean silhouette and the one-sided p-value that it fell."""
    if current is None or reference.silhouette is None:
        return (None if current is None else float(current.mean())), None
    mean = float(current.mean())
    variance = (reference.silhouette_std or 0.0) ** 2 / max(reference.silhouette_rows, 1) + float(
        current.var(ddof=1)
    ) / max(len(current), 1)
    if variance <= 0:
        return mean, 0.0 if mean < reference.silhouette else 1.0
    return mean, float(stats.norm.sf((reference.silhouette - mean) / np.sqrt(variance)))


def cluster_check(
    reference: ClusterProfile,
    ids: Any,
    *,
    matrix: np.ndarray | None = None,
    matrix_ids: Any = None,
    settings: MonitoringSection | None = None,
    seed: int = 0,
) -> ClusterReport:
    """Compare a batch's clusters with training's.

    Args:
        reference: the reference's cluster part.
        ids: the cluster id given to each row of the batch (served or
            computed now).
        matrix: the batch in the model's prepared space, for the silhouette.
        matrix_ids: the model's ids for the rows of ``matrix``; ``ids``
            when omitted.
        settings: the ``[monitoring]`` section (defaults when omitted).
        seed: random state of the silhouette's sample.
    """
    settings = settings or MonitoringSection()
    values = as_cluster_ids(ids)
    position = {cluster: index for index, cluster in enumerate(reference.ids)}
    counts = np.zeros(len(reference.ids))
    unknown = 0
    found, seen = np.unique(values, return_counts=True)
    for cluster, count in zip(found.tolist(), seen.tolist(), strict=True):
        if cluster in position:
            counts[position[cluster]] += count
        else:
            unknown += count
    as_profile = CategoricalProfile(
        "prediction",
        tuple(str(i) for i in reference.ids),
        np.asarray(reference.counts, dtype=np.int64),
        0,
        0,
        role="cluster",
    )
    measured = categorical_stats(
        as_profile,
        {str(c): int(n) for c, n in zip(found.tolist(), seen.tolist(), strict=True)},
        0,
    )
    test = choose_test("categorical", len(values), settings)
    limit = threshold(test, settings)
    p_value = measured.p_values.get("chi2") if test == "chi2" else None
    statistic = float(measured.scores.get(test, 0.0))
    drifted = bool(p_value < settings.significance) if p_value is not None else statistic > limit
    shares = _share_tests(reference, counts, settings)
    current = None
    if matrix is not None:
        assigned = values if matrix_ids is None else as_cluster_ids(matrix_ids)
        current = row_silhouettes(matrix, assigned, seed=seed)
    silhouette, silhouette_p = _silhouette_fall(reference, current)
    report = ClusterReport(
        n_reference=reference.n,
        n_current=len(values),
        test=test,
        statistic=statistic,
        threshold=limit,
        p_value=p_value,
        shares_drifted=drifted,
        clusters=shares,
        unknown_rows=unknown,
        silhouette_reference=reference.silhouette,
        silhouette_current=silhouette,
        silhouette_p=silhouette_p,
        silhouette_threshold=settings.silhouette_drop,
    )
    drop = report.silhouette_drop
    report.quality_dropped = bool(
        drop is not None
        and silhouette_p is not None
        and drop > settings.silhouette_drop
        and silhouette_p < settings.significance
    )
    report.findings = _findings(report)
    return report


def _findings(report: ClusterReport) -> list[ColumnChange]:
    findings: list[ColumnChange] = []
    if report.shares_drifted:
        moved = [c for c in report.clusters if c.change]
        detail = "; ".join(
            f"cluster {c.cluster} {c.change} from {c.reference_share:.1%} to {c.current_share:.1%}"
            for c in sorted(moved, key=lambda c: -abs(c.difference))
        )
        findings.append(
            ColumnChange(
                "cluster_shares",
                "prediction",
                "warning",
                f"the rows spread over the clusters differently than in training ("
                f"{_test_text(report)})" + (f": {detail}" if detail else ""),
                report.statistic,
            )
        )
    if report.unknown_rows:
        findings.append(
            ColumnChange(
                "unknown_clusters",
                "prediction",
                "warning",
                f"{report.unknown_rows} row(s) carry a cluster id the model did not have in "
                "training (predictions from another model version?)",
                report.unknown_rows / max(report.n_current, 1),
            )
        )
    if report.quality_dropped:
        findings.append(
            ColumnChange(
                "cluster_quality",
                "prediction",
                "warning",
                report.quality_message()
                + f" (one-sided p = {report.silhouette_p:.2g}); the segmentation may no "
                "longer describe the data: consider retraining",
                report.silhouette_drop,
            )
        )
    return findings
