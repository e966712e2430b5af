"""``cairn build``: the build context installs and serves from a clean
environment with no training library, as the image would (no Docker needed:
a fresh virtual environment gets the context's requirements, then the
context's entrypoint runs)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cairn.exceptions import ServingError
from tests.serving.conftest import held_out, records_of

TRAINING = ("sklearn", "lightgbm", "catboost", "optuna", "mlflow", "scipy")


@pytest.fixture(scope="module")
def context(churn: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from cairn.serving.container import build_context

    return build_context(churn.bundle_path, tmp_path_factory.mktemp("build") / "context")


def _install(context: Path, venv: Path) -> Path:
    """A fresh virtual environment holding what the image's ``pip install
    -r requirements.txt`` installs (uv when it is there, pip otherwise)."""
    python = venv / "bin" / "python"
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    if Path(uv).exists():
        made = subprocess.run([uv, "venv", "-q", "-p", sys.executable, str(venv)], check=False)
        if made.returncode == 0:
            done = subprocess.run(
                [uv, "pip", "install", "-q", "-p", str(python), "-r", "requirements.txt"],
                cwd=context,
                capture_output=True,
                text=True,
            )
            if done.returncode == 0:
                return python
        shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "-r", "requirements.txt"],
        cwd=context,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return python


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _entrypoint(context: Path, python: Path, log: Path) -> Iterator[str]:
    """The context's entrypoint, started as SageMaker starts it (``serve``),
    with the image's settings pointed at this machine's paths."""
    port = _free_port()
    env = {
        "PATH": f"{python.parent}{os.pathsep}/usr/bin:/bin",
        "HOME": str(log.parent),
        "CAIRN_MODEL": str(context / "model"),
        "CAIRN_HOST": "127.0.0.1",
        "PORT": str(port),
        "CAIRN_LOG": str(log),
    }
    server = subprocess.Popen(
        ["/bin/sh", str(context / "entrypoint.sh"), "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=log.parent,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            try:
                with urllib.request.urlopen(f"{base}/ping", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the entrypoint did not answer /ping in 90 s"
            time.sleep(0.3)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def _post(url: str, body: bytes, content_type: str) -> dict[str, Any]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=20) as response:
        return dict(json.loads(response.read()))


@pytest.mark.slow
def test_context_installs_and_serves_from_a_clean_venv_without_training_libraries(
    context: Any, churn: Any, tmp_path: Path
) -> None:
    folder = context.folder
    dockerfile = (folder / "Dockerfile").read_text(encoding="utf-8")
    assert dockerfile.splitlines()[2] == "FROM python:3.11-slim"
    for line in ("USER cairn", "EXPOSE 8080", "HEALTHCHECK", 'ENTRYPOINT ["/bin/sh"'):
        assert line in dockerfile
    assert context.engine == "onnx"
    requirements = (folder / "requirements.txt").read_text(encoding="utf-8").split()
    assert requirements == [f"./wheels/{context.wheel}[serve]"]
    assert (folder / "wheels" / context.wheel).is_file()

    python = _install(folder, tmp_path / "venv")
    probe = f"import importlib.util as u; print([m for m in {TRAINING!r} if u.find_spec(m)])"
    found = subprocess.run(
        [str(python), "-c", probe], capture_output=True, text=True, check=True, env={}
    ).stdout.strip()
    assert found == "[]", f"the image's install holds training libraries: {found}"

    frame = held_out(churn).head(4)
    with _entrypoint(folder, python, tmp_path / "predictions.db") as base:
        records = json.dumps({"records": records_of(churn, 4)}).encode()
        by_json = _post(f"{base}/invocations", records, "application/json")["predictions"]
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False)
        by_csv = _post(f"{base}/invocations", buffer.getvalue().encode(), "text/csv")
        with urllib.request.urlopen(f"{base}/health", timeout=5) as response:
            health = json.loads(response.read())
        with urllib.request.urlopen(f"{base}/metadata", timeout=5) as response:
            engine = json.loads(response.read())["engine"]["name"]
    assert len(by_json) == 4 and {row["prediction"] for row in by_json} <= {"Yes", "No"}
    assert [row["prediction"] for row in by_csv["predictions"]] == [
        row["prediction"] for row in by_json
    ]
    assert health["model"] == "churn" and health["version"] == context.version
    assert engine == "onnx"


@pytest.fixture(scope="module")
def native_bundle(churn: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The churn pipeline saved without its ONNX graph: only the pickle serves it."""
    from cairn.bundle import load_bundle, save_bundle

    model = load_bundle(churn.bundle_path, engine="native")
    kept = {k: model.metadata[k] for k in ("name", "task", "run_id") if k in model.metadata}
    return save_bundle(
        tmp_path_factory.mktemp("native") / "bundle", model.pipeline, model.schema, kept
    )


def test_native_bundle_context_lists_the_libraries_its_pickle_needs(
    native_bundle: Path, context: Any, tmp_path: Path
) -> None:
    import lightgbm
    import sklearn

    from cairn.serving.container import build_context

    wheel = context.folder / "wheels" / context.wheel
    built = build_context(native_bundle, tmp_path / "native", wheel=wheel)
    assert built.engine == "native"
    extras = built.requirements[1:]
    assert f"scikit-learn=={sklearn.__version__}" in extras
    assert f"lightgbm=={lightgbm.__version__}" in extras
    assert not any(name.startswith(("catboost", "optuna", "mlflow")) for name in extras)
    assert "lightgbm" in built.reason
    written = (tmp_path / "native" / "requirements.txt").read_text(encoding="utf-8")
    assert written.split() == built.requirements
    assert "lightgbm==" in (tmp_path / "native" / "Dockerfile").read_text(encoding="utf-8")


def test_build_refuses_a_used_folder_and_reports_a_missing_docker(
    context: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cairn.serving import container

    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ServingError, match="not an empty folder"):
        container.build_context(context.folder / "model", used)
    assert [p.name for p in tmp_path.iterdir()] == ["used"]  # nothing half-written
    monkeypatch.setattr(container.shutil, "which", lambda name: None)
    with pytest.raises(ServingError, match="docker is not installed") as caught:
        container.build_image(context, "churn:1")
    assert "\n" not in str(caught.value)


def test_cli_build_prints_one_line_for_a_missing_bundle(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cairn", "build", str(tmp_path / "nowhere"), "-o", "out"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert "no model bundle here" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "out").exists()


def test_invocations_takes_csv_and_predict_records_alike(churn: Any, serve_app: Any) -> None:
    from cairn.serving import create_app

    server = serve_app(create_app(churn.bundle_path))
    frame: pd.DataFrame = held_out(churn).head(3)
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    by_csv = _post(f"{server.url}/invocations", buffer.getvalue().encode(), "text/csv")
    records = json.dumps({"records": records_of(churn, 3)}).encode()
    by_json = _post(f"{server.url}/invocations", records, "application/json")
    assert by_csv["predictions"] == by_json["predictions"]
    with urllib.request.urlopen(f"{server.url}/ping", timeout=5) as response:
        assert response.status == 200
    both = json.dumps({"records": [], "instances": []}).encode()
    with pytest.raises(urllib.error.HTTPError) as refused:
        _post(f"{server.url}/invocations", both, "application/json")
    assert refused.value.code == 400
    # a CSV without its header row would lose its first record as the header
    headless = frame.to_csv(index=False, header=False).encode()
    semicolons = frame.to_csv(index=False, sep=";").encode()
    for body, says in (
        (headless, "header row"),
        (b"", "empty"),
        (b"\xff\xfe,1\n", "utf-8"),
        (semicolons, "not comma-separated"),
    ):
        with pytest.raises(urllib.error.HTTPError) as refused:
            _post(f"{server.url}/invocations", body, "text/csv")
        assert refused.value.code == 400
        message = json.loads(refused.value.read())["message"]
        assert says in message
        assert "\n" not in message


def test_build_into_an_unwritable_place_is_one_error(context: Any, tmp_path: Path) -> None:
    from cairn.serving import container

    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(ServingError, match="cannot write the build context") as caught:
        container.build_context(context.folder / "model", blocker / "context")
    assert "\n" not in str(caught.value)
    bundle = tmp_path / "bundle"
    shutil.copytree(context.folder / "model", bundle)
    with pytest.raises(ServingError, match="inside the bundle"):
        container.build_context(bundle, bundle / "context")
    assert sorted(p.name for p in bundle.iterdir()) == sorted(
        p.name for p in (context.folder / "model").iterdir()
    )


def test_the_image_makes_the_bundle_readable_by_its_service_user(context: Any) -> None:
    """COPY keeps the files' modes and gives them to root; some bundle files are
    written owner-only, so without a chmod the non-root server could not read them."""
    owner_only = [
        p.name for p in (context.folder / "model").iterdir() if not p.stat().st_mode & 0o004
    ]
    assert owner_only  # what the chmod is for
    lines = (context.folder / "Dockerfile").read_text(encoding="utf-8").splitlines()
    chmod = lines.index("RUN chmod -R a+rX /opt/cairn")
    assert lines.index("COPY model/ /opt/cairn/model/") < chmod < lines.index("USER cairn")


def test_an_image_tag_docker_would_refuse_is_refused_before_writing(tmp_path: Path) -> None:
    from cairn.serving.container import check_image_tag

    for good in ("churn:3", "registry.example.com:5000/team/churn:v1.2", "localhost/a_b-c"):
        check_image_tag(good)
    done = subprocess.run(
        [sys.executable, "-m", "cairn", "build", "nowhere", "-o", "out", "--image", "Churn 3!"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1
    assert "not a valid docker image name" in output and "Traceback" not in output
    assert not (tmp_path / "out").exists()
