"""The command line, run as a user runs it: a real process, real files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from cairn.spec import load_spec
from tests.conftest import dataset_path, load_dataset

CAIRN = [sys.executable, "-m", "cairn.cli"]


def cairn_cli(
    *args: str, cwd: Path | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CAIRN, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)


def test_version() -> None:
    done = cairn_cli("--version")
    assert done.returncode == 0
    assert done.stdout.startswith("cairn ")


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys\n"
        "from cairn.cli import app\n"
        "try:\n"
        "    app(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('lightgbm', 'mlflow', 'fastapi', 'catboost', 'sklearn', 'ray')"
        " if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stdout


def test_init_writes_a_loadable_commented_spec(tmp_path: Path) -> None:
    data = dataset_path("telco_churn")
    spec_path = tmp_path / "cairn.toml"
    done = cairn_cli("init", str(data), "--target", "Churn", "-o", str(spec_path))
    assert done.returncode == 0, done.stderr
    text = spec_path.read_text()
    assert 'task = "classification"' in text
    assert 'metric = "roc_auc"' in text
    assert "customerID" in text and '"id"' in text  # inferred id column listed
    assert "# " in text  # commented
    spec = load_spec(spec_path)
    assert spec.problem.target == "Churn"
    assert spec.resolve(spec.data.sources[0].path).resolve() == data.resolve()  # type: ignore[arg-type]
    again = cairn_cli("init", str(data), "--target", "Churn", "-o", str(spec_path))
    assert again.returncode == 1
    assert "already exists" in again.stderr and "--force" in again.stderr


def test_init_regression_guess(tmp_path: Path) -> None:
    spec_path = tmp_path / "cairn.toml"
    done = cairn_cli(
        "init", str(dataset_path("insurance")), "--target", "charges", "-o", str(spec_path)
    )
    assert done.returncode == 0, done.stderr
    assert load_spec(spec_path).problem.task == "regression"
    assert load_spec(spec_path).problem.metric == "rmse"


@pytest.mark.slow
def test_run_then_predict(tmp_path: Path) -> None:
    frame = load_dataset("iris")
    frame.to_csv(tmp_path / "iris.csv", index=False)
    init = cairn_cli("init", "iris.csv", "--target", "species", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    run = cairn_cli("run", "--time-budget", "8", "--no-register", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "Leaderboard" in run.stdout and "Test set" in run.stdout
    assert "bundle:" in run.stdout
    bundle = next((tmp_path / ".cairn" / "runs").glob("*/bundle"))
    new = frame.drop(columns=["species"]).head(10)
    new.to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "scored.csv"
    done = cairn_cli("predict", str(bundle), str(tmp_path / "new.csv"), "-o", str(out))
    assert done.returncode == 0, done.stderr
    scored = pd.read_csv(out)
    assert len(scored) == 10
    assert set(scored["prediction"]) <= {"setosa", "versicolor", "virginica"}
    assert {"proba_setosa", "proba_versicolor", "proba_virginica"} <= set(scored.columns)
    # A file missing a feature column: one line naming it, exit 1, no traceback.
    new.drop(columns=["petal_width"]).to_csv(tmp_path / "bad.csv", index=False)
    bad = cairn_cli("predict", str(bundle), str(tmp_path / "bad.csv"), "-o", str(out))
    assert bad.returncode == 1
    assert "petal_width" in bad.stderr
    assert "Traceback" not in bad.stderr
    # The input file is never overwritten; a missing output folder is not created.
    before = (tmp_path / "new.csv").read_bytes()
    same = cairn_cli("predict", str(bundle), "new.csv", "-o", "./new.csv", cwd=tmp_path)
    assert same.returncode == 1 and "is the input file" in same.stderr
    assert (tmp_path / "new.csv").read_bytes() == before
    nowhere = tmp_path / "nonexistent" / "x.csv"
    missing = cairn_cli("predict", str(bundle), str(tmp_path / "new.csv"), "-o", str(nowhere))
    assert missing.returncode == 1
    assert f"folder {nowhere.parent} does not exist" in missing.stderr
    assert not nowhere.parent.exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("run", "missing.toml"), "cairn init"),
        (("predict", "no-such-bundle", "x.csv", "-o", "y.csv"), "no model bundle"),
        (("init", "nope.csv", "--target", "y"), "nope.csv"),
    ],
)
def test_user_mistakes_print_one_line(tmp_path: Path, args: tuple[str, ...], expected: str) -> None:
    done = cairn_cli(*args, cwd=tmp_path)
    assert done.returncode == 1
    assert expected in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 3  # one logical line, maybe wrapped


def test_wrong_target_suggests_a_column(tmp_path: Path) -> None:
    done = cairn_cli(
        "init", str(dataset_path("titanic")), "--target", "survived", "-o", str(tmp_path / "c.toml")
    )
    assert done.returncode == 1
    assert "Survived" in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_spec_key_names_file_and_key(tmp_path: Path) -> None:
    spec = tmp_path / "cairn.toml"
    spec.write_text(
        '[project]\nname = "x"\n[data]\nsources = [{ path = "d.csv" }]\n'
        '[problem]\ntarget = "y"\ntask = "forecasting"\n'
    )
    done = cairn_cli("run", str(spec))
    assert done.returncode == 1
    assert "problem.task" in done.stderr and "cairn.toml" in done.stderr
    assert "classification" in done.stderr


@pytest.mark.parametrize(
    ("problem", "expected"),
    [
        ('task = "classification"\nobjectives = ["rmse < 3"]', "is not measured on"),
        ('objectives = ["rmse < 3"]', "inferred as classification"),
        ('metric = "mae"', "'mae' is not a classification metric"),
    ],
)
def test_objective_or_metric_of_other_task_stops_the_run(
    tmp_path: Path, problem: str, expected: str
) -> None:
    spec = tmp_path / "cairn.toml"
    spec.write_text(
        f'[project]\nname = "x"\n[data]\nsources = [{{ path = "{dataset_path("titanic")}" }}]\n'
        f'[problem]\ntarget = "Survived"\n{problem}\n'
    )
    done = cairn_cli("run", str(spec), "--strict", "--no-register", "--time-budget", "5")
    assert done.returncode == 1, done.stdout
    assert expected in done.stderr
    assert "accuracy" in done.stderr  # the allowed quantities are listed
    assert "Traceback" not in done.stderr
    assert not (tmp_path / ".cairn" / "runs").exists() or not any(
        (tmp_path / ".cairn" / "runs").iterdir()
    )


def test_predict_output_checked_before_any_work(tmp_path: Path) -> None:
    data = tmp_path / "titanic.csv"
    data.write_bytes(dataset_path("titanic").read_bytes())
    same = cairn_cli("predict", "no-such-bundle", "titanic.csv", "-o", "titanic.csv", cwd=tmp_path)
    assert same.returncode == 1
    assert "--output titanic.csv is the input file" in same.stderr
    assert data.read_bytes() == dataset_path("titanic").read_bytes()
    done = cairn_cli("predict", "no-such-bundle", "titanic.csv", "-o", "/nonexistent/x.csv")
    assert done.returncode == 1
    assert "folder /nonexistent does not exist" in done.stderr
    assert not Path("/nonexistent").exists()


def test_wrong_separator_run_names_the_separator(tmp_path: Path) -> None:
    spec = tmp_path / "cairn.toml"
    spec.write_text(
        f'[project]\nname = "x"\n[data]\nsources = [{{ path = "{dataset_path("wine_quality_red")}",'
        ' separator = "," }]\n[problem]\ntarget = "quality"\n'
    )
    done = cairn_cli("run", str(spec), "--no-register")
    assert done.returncode == 1
    assert "set separator = ';' in [data]" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["run", "--bogus"], "No such option: --bogus (see '"),
        (["nosuch"], "No such command 'nosuch'. (see '"),
        (["serve", "--workers", "0", "x"], "Invalid value for '--workers'"),
        (["predict"], "Missing argument 'model'. (see '"),
    ],
)
def test_a_usage_mistake_is_one_line_and_status_2(args: list[str], says: str) -> None:
    done = cairn_cli(*args)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], done.stderr
    assert lines[0].endswith(" --help')")  # where to look
    assert "Traceback" not in done.stderr and "╭" not in done.stderr + done.stdout


def test_help_and_version_still_answer() -> None:
    assert cairn_cli("run", "--help").returncode == 0
    bare = cairn_cli()
    assert bare.returncode == 2 and "Usage" in bare.stdout + bare.stderr  # the help, as before
