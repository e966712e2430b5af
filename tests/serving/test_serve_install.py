"""``pip install 'cairn[serve]'`` serves a bundle with no training library.

Builds that environment for real (uv when it is there, pip otherwise), checks
that scikit-learn, LightGBM, CatBoost, Optuna and MLflow are absent from it, and
serves a bundle trained by the full install through ``cairn serve`` from it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serving.conftest import records_of

ROOT = Path(__file__).resolve().parents[2]
TRAINING = ("sklearn", "lightgbm", "catboost", "optuna", "mlflow", "scipy", "skl2onnx")


def _build_serving_env(folder: Path) -> Path:
    """A fresh virtual environment holding ``cairn[serve]`` only."""
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    python = folder / "bin" / "python"
    if Path(uv).exists():
        made = subprocess.run(
            [uv, "venv", "-q", "-p", sys.executable, str(folder)], capture_output=True, text=True
        )
        installed = made.returncode == 0 and (
            subprocess.run(
                [uv, "pip", "install", "-q", "-p", str(python), f"{ROOT}[serve]"],
                capture_output=True,
                text=True,
            ).returncode
            == 0
        )
        if installed:
            return python
        shutil.rmtree(folder, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", f"{ROOT}[serve]"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return python


@pytest.fixture(scope="module")
def serving_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_serving_env(tmp_path_factory.mktemp("serve-env") / "venv")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.loads(response.read()))


def test_serving_install_has_no_training_library(serving_env: Path) -> None:
    probe = f"import importlib.util as u; print([m for m in {TRAINING!r} if u.find_spec(m)])"
    found = subprocess.run(
        [str(serving_env), "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert found == "[]", f"the serving install holds training libraries: {found}"


@contextlib.contextmanager
def _served(serving_env: Path, bundle: Path) -> Iterator[str]:
    """``cairn serve BUNDLE`` from the serving install; yields its base URL once ready."""
    port = _free_port()
    cairn = serving_env.with_name("cairn")
    env = {**os.environ, "PYTHONPATH": ""}
    server = subprocess.Popen(
        [str(cairn), "serve", str(bundle), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=serving_env.parent,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            try:
                with urllib.request.urlopen(f"{base}/ready", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready in 60 s"
            time.sleep(0.3)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=20)


def _engine(base: str) -> str:
    with urllib.request.urlopen(f"{base}/metadata", timeout=5) as response:
        return str(json.loads(response.read())["engine"]["name"])


def test_serving_install_serves_an_onnx_bundle(serving_env: Path, churn: Any) -> None:
    with _served(serving_env, churn.bundle_path) as base:
        answer = _post(f"{base}/predict", {"records": records_of(churn, 5)})
        assert len(answer["predictions"]) == 5
        assert set(answer["predictions"]) <= {"Yes", "No"}
        assert len(answer["probabilities"]) == 5
        assert _engine(base) == "onnx"


def test_serving_install_serves_a_clustering_bundle(
    serving_env: Path, clustering_bundle: Callable[..., Any]
) -> None:
    made = clustering_bundle("kmeans")
    records = json.loads(made.frame.head(6).to_json(orient="records"))
    with _served(serving_env, made.path) as base:
        answer = _post(f"{base}/predict", {"records": records})
        assert answer["predictions"] == made.result.labels[:6].tolist()
        assert all(len(row) == 3 for row in answer["distances"])
        assert _engine(base) == "onnx"


def test_serving_install_serves_a_recommendation_bundle(serving_env: Path, tmp_path: Path) -> None:
    """The recommender is read from its numpy files: no scipy, no scikit-learn."""
    from tests.serving import movielens_bundle as ml

    bundle = ml.save(tmp_path / "bundle", ml.ratings(users="odd", limit=60))
    with _served(serving_env, bundle) as base:
        answer = _post(f"{base}/recommend", {"user": 1, "k": 5})
        assert len(answer["items"]) == 5 and all(item["title"] for item in answer["items"])
        unknown = _post(f"{base}/recommend", {"user": 10**9, "k": 3})
        assert unknown["fallback"] == "popularity" and unknown["warnings"]
        similar = _post(f"{base}/similar-items", {"item": 318, "k": 3})
        assert len(similar["items"]) == 3
        assert _engine(base) == "numpy"


def test_training_on_a_serving_install_says_what_to_install(
    serving_env: Path, tmp_path: Path
) -> None:
    (tmp_path / "data.csv").write_text("x,y\n1,0\n2,1\n3,0\n4,1\n", encoding="utf-8")
    (tmp_path / "cairn.toml").write_text(
        '[project]\nname = "p"\n\n[data]\nsources = [{ path = "data.csv" }]\n\n'
        '[problem]\ntarget = "y"\n',
        encoding="utf-8",
    )
    done = subprocess.run(
        [str(serving_env.with_name("cairn")), "run", "cairn.toml"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": ""},
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "pip install 'cairn[train]'" in done.stderr
    assert "Traceback" not in done.stderr
