"""Files larger than memory: the all-row profile in DuckDB under a memory
cap, the training sample policy a run records, and partitioned scoring
giving the in-memory predictions."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cairn.data.large import LARGE_ATTR, SAMPLE_MIN_ROWS, profile_large, read_large
from cairn.data.sources import read_table
from cairn.exceptions import CairnError
from cairn.serving.batch import score_file, score_frame
from cairn.tracking import load_model
from tests.conftest import load_dataset

CAIRN = [sys.executable, "-m", "cairn.cli"]


def _grown(name: str, rows: int, seed: int = 0) -> pd.DataFrame:
    """A shared dataset resampled to ROWS rows, numbers jittered so that
    most rows differ."""
    base = load_dataset(name)
    rng = np.random.default_rng(seed)
    frame = base.iloc[rng.integers(0, len(base), rows)].reset_index(drop=True)
    for column in frame.columns:
        if frame[column].dtype.kind == "f":
            frame[column] = frame[column] * rng.normal(1.0, 0.01, rows)
    return frame


def test_profile_of_two_million_rows_runs_under_a_memory_cap(tmp_path: Path) -> None:
    frame = _grown("california_housing", 2_000_000)
    frame.loc[::97, "total_rooms"] = np.nan
    frame = pd.concat([frame, frame.iloc[:1234]], ignore_index=True)  # 1,234 duplicates
    path = tmp_path / "housing.parquet"
    frame.to_parquet(path, row_group_size=200_000)
    # The pandas frame alone takes ~240 MB; the cap leaves DuckDB its 1 GB.
    code = textwrap.dedent(
        f"""
        import json, resource
        resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))
        from pathlib import Path
        from cairn.data.large import profile_large
        p = profile_large(Path({str(path)!r}), target="median_house_value", threads=2)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(json.dumps({{"profile": p.to_dict(), "peak": peak}}, default=str))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout)
    profile, peak = answer["profile"], answer["peak"]
    # DuckDB's 1 GB limit plus the libraries; well under the 2 GiB cap and 4 GiB for 20M rows
    assert peak < 1.5 * 1024**3
    assert profile["rows"] == len(frame)
    assert profile["duplicates"] == int(frame.duplicated().sum()) >= 1234
    columns = {c["name"]: c for c in profile["columns"]}
    rooms = columns["total_rooms"]
    assert rooms["missing"] == int(frame["total_rooms"].isna().sum())
    assert rooms["minimum"] == pytest.approx(frame["total_rooms"].min())
    assert rooms["maximum"] == pytest.approx(frame["total_rooms"].max())
    assert rooms["quantiles"]["0.5"] == pytest.approx(frame["total_rooms"].median(), rel=0.02)
    ocean = columns["ocean_proximity"]
    expected = frame["ocean_proximity"].value_counts()
    assert [tuple(t) for t in ocean["top"]] == list(zip(expected.index, expected, strict=False))
    assert ocean["distinct"] == 5
    checks = {f["check"] for f in profile["findings"]}
    assert "all_rows_duplicates" in checks


def test_an_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(CairnError, match=r"broken\.parquet: cannot be read"):
        profile_large(path)


@pytest.fixture(scope="module")
def large_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, pd.DataFrame, Path]:
    """One short run on a Parquet file read as larger than memory."""
    import cairn

    root = tmp_path_factory.mktemp("large")
    frame = _grown("adult", 300_000)
    frame.to_parquet(root / "adult.parquet", row_group_size=50_000)
    (root / "cairn.toml").write_text(
        textwrap.dedent(
            """
            [project]
            name = "adult-large"

            [data]
            sources = [{ path = "adult.parquet" }]
            large = true

            [problem]
            target = "class"

            [train]
            time_budget = 5
            include = ["lightgbm"]
            """
        ),
        encoding="utf-8",
    )
    result = cairn.run(root / "cairn.toml", register=False)
    return result, frame, root


def test_a_large_file_trains_on_a_recorded_stratified_sample(large_run: tuple) -> None:
    result, frame, _ = large_run
    record = result.quality.large["sources"][0]
    sample = record["sample"]
    assert sample["rows_total"] == len(frame)
    assert sample["stratified_on"] == "class"
    assert sample["rows"] == SAMPLE_MIN_ROWS  # 5 s x 5,000 rows/s is under the floor
    assert abs(sample["rows_drawn"] - SAMPLE_MIN_ROWS) < 0.05 * SAMPLE_MIN_ROWS
    # The checks after reading saw the sample, not the whole file.
    assert result.quality.rows_in == sample["rows_drawn"]
    assert "training_sample" in {f.check for f in result.quality.findings}
    card = Path(result.reports["model_card"]).read_text(encoding="utf-8")
    assert "Training sample" in card and "stratified on 'class'" in card
    quality = json.loads(Path(result.reports["quality"]).read_text(encoding="utf-8"))
    assert quality["large"]["sources"][0]["profile"]["rows"] == len(frame)


def test_partitioned_predict_equals_in_memory_predict(large_run: tuple, tmp_path: Path) -> None:
    result, frame, _ = large_run
    rows = frame.sample(6_000, random_state=3).drop(columns=["class"])
    data = tmp_path / "score.parquet"
    rows.to_parquet(data, row_group_size=1_000)
    bundle = str(result.bundle_path)
    # The in-memory path of `cairn predict`: the whole file read, scored at once.
    expected, _ = score_frame(load_model(bundle), read_table(data))
    expected = expected.reset_index(drop=True)
    parted = tmp_path / "parted.parquet"
    written, _ = score_file(bundle, data, parted, workers=2, partition_rows=1_500)
    assert written == len(rows)
    got = pd.read_parquet(parted)
    assert list(got.columns) == list(expected.columns)
    pd.testing.assert_series_equal(got["prediction"], expected["prediction"])
    probabilities = [c for c in expected.columns if c.startswith("proba_")]
    assert probabilities
    np.testing.assert_allclose(got[probabilities], expected[probabilities], rtol=1e-6)
    # A CSV goes through DuckDB's reader in batches, in this process.
    text = tmp_path / "score.csv"
    rows.iloc[:3_000].to_csv(text, index=False)
    from_text = tmp_path / "from_text.parquet"
    score_file(bundle, text, from_text, workers=1, partition_rows=1_000)
    pd.testing.assert_series_equal(
        pd.read_parquet(from_text)["prediction"], expected["prediction"].iloc[:3_000]
    )
    with pytest.raises(CairnError, match="--executor 'spark' is not available"):
        score_file(bundle, data, tmp_path / "x.parquet", executor="spark")


def test_cli_profiles_every_row_of_a_large_file(tmp_path: Path) -> None:
    frame = _grown("california_housing", 100_000)
    path = tmp_path / "housing.parquet"
    frame.to_parquet(path)
    page = tmp_path / "page.html"
    done = subprocess.run(
        [*CAIRN, "profile", str(path), "--large", "-t", "median_house_value", "-o", str(page)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "100,000 rows" in done.stdout and "every row read in DuckDB" in done.stdout
    html = page.read_text(encoding="utf-8")
    assert "ocean_proximity" in html and "NEAR BAY" in html
    missing = subprocess.run(
        [*CAIRN, "profile", str(path), "--large", "-t", "price"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert "has no column 'price'" in missing.stdout + missing.stderr


def test_the_sample_keeps_each_of_26_classes_share(tmp_path: Path) -> None:
    frame = _grown("letter", 200_000)
    path = tmp_path / "letter.parquet"
    frame.to_parquet(path, row_group_size=20_000)
    sample = read_large(path, target="letter", task=None, time_budget=5, seed=7)
    policy = sample.attrs[LARGE_ATTR]["sample"]
    assert policy["stratified_on"] == "letter" and len(policy["class_rates"]) == 26
    full = frame["letter"].value_counts(normalize=True)
    drawn = sample["letter"].value_counts(normalize=True)
    assert (drawn.reindex(full.index) - full).abs().max() < 0.005
    assert abs(len(sample) - SAMPLE_MIN_ROWS) < 0.05 * SAMPLE_MIN_ROWS
    again = read_large(path, target="letter", task=None, time_budget=5, seed=7)
    pd.testing.assert_frame_equal(
        sample.sort_values(list(sample.columns)).reset_index(drop=True),
        again.sort_values(list(again.columns)).reset_index(drop=True),
    )


def test_near_constant_columns_are_found_exactly_on_many_rows() -> None:
    from cairn.data.quality import check_and_clean

    frame = _grown("california_housing", 300_000)[
        ["median_income", "housing_median_age", "median_house_value"]
    ]
    rare = np.zeros(len(frame), dtype=bool)
    rare[::250] = True  # 0.4 % of rows differ: near-constant
    frame["flag"] = np.where(rare, 1.0, 0.0)
    common = np.zeros(len(frame), dtype=bool)
    common[::50] = True  # 2 % differ: not
    frame["level"] = np.where(common, 2.0, 1.0)
    report = check_and_clean(frame, target="median_house_value", task="regression").report
    near = {f.column: f.count for f in report.by_check("near_constant")}
    assert near == {"flag": int(rare.sum())}
