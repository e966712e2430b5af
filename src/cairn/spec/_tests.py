"""The ``[tests]`` section of the spec: what ``cairn test`` checks on a
trained model beyond what it generates from the schema (declared
invariances and directions, sensitive columns), its thresholds, and whether
the suite gates promotion.

Column names are checked against the data when the suite runs, not here:
the spec is read before the data is."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from cairn.spec._data import Section


class InvarianceTest(Section):
    """The prediction must not change when ``column`` takes another row's value.

    ``tolerance``: for a regression, how far (relative to the prediction) a
    prediction may move; for a classifier, the share of rows whose class may
    flip.
    """

    column: str = Field(min_length=1)
    tolerance: float = Field(default=0.0, ge=0.0)


class DirectionTest(Section):
    """The prediction (a regression's value, a binary classifier's positive
    probability) must move with ``column`` in ``direction``; ``tolerance``
    is the share of rows allowed to go against it."""

    column: str = Field(min_length=1)
    direction: Literal["increasing", "decreasing"]
    tolerance: float = Field(default=0.05, ge=0.0, le=1.0)


class TestsSection(Section):
    """Thresholds of the behaviour-test suite (``cairn test``)."""

    # not a test class, whatever pytest makes of the name
    __test__: ClassVar[bool] = False

    # Run the suite before a version becomes champion in run / retrain.
    gate: bool = False
    invariance: list[InvarianceTest] = Field(default_factory=list)
    direction: list[DirectionTest] = Field(default_factory=list)
    # Columns across which fairness (parity and equal opportunity) is measured.
    sensitive: list[str] = Field(default_factory=list)
    # Numeric noise, as a fraction of each feature's standard deviation.
    robustness_noise: float = Field(default=0.05, gt=0.0, le=1.0)
    # Share of predictions allowed to flip under noise or typo-like changes.
    max_flip_share: float = Field(default=0.1, ge=0.0, le=1.0)
    # Slices (a category, a quintile of a number) with fewer rows are not judged.
    slice_min_rows: int = Field(default=30, ge=5)
    # How far under the metric on all rows a slice may fall, relative to it,
    # at the optimistic end of the slice's 90 % bootstrap interval.
    slice_max_gap: float = Field(default=0.25, gt=0.0)
    # Largest demographic-parity or equal-opportunity difference between groups.
    fairness_max_gap: float = Field(default=0.1, ge=0.0, le=1.0)
    # Native, ONNX, HTTP, single-row and batch outputs agree within this
    # (absolute and relative, as numpy.allclose's atol and rtol).
    skew_tolerance: float = Field(default=1e-5, ge=0.0)
    # Share of the test rows allowed to appear, feature for feature, in training.
    max_overlap_share: float = Field(default=0.01, ge=0.0, le=1.0)
    # Largest expected calibration error of a classifier (10 bins).
    max_ece: float = Field(default=0.1, ge=0.0, le=1.0)

    @field_validator("sensitive")
    @classmethod
    def _no_blank_names(cls, value: list[str]) -> list[str]:
        if any(not name.strip() for name in value):
            raise ValueError("'sensitive' holds an empty column name")
        return value
