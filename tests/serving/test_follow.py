"""``cairn serve models:/NAME@champion --follow-alias``: the champion is
swapped when its alias moves, under load, with no failed request."""

from __future__ import annotations

import http.client
import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from cairn.exceptions import ServingError
from tests.serving.conftest import records_of


def _registered_twice(result: Any, root: Path) -> str:
    """A project whose registry holds the run's bundle as versions 1 (champion)
    and 2. The versions are made with MLflow's client from one logged copy of
    the bundle (what the server reads of a version), not with two whole
    ``record_run`` calls and their environment inference."""
    from cairn.tracking import CHAMPION, open_store, set_alias, tracking_uri

    root.mkdir()
    for name in ("cairn.toml", "data.csv"):
        shutil.copy(result.spec.project_dir / name, root / name)
    uri = tracking_uri(root)
    client = open_store(uri)
    name = result.spec.project.name
    experiment = client.create_experiment(name)
    run = client.create_run(experiment)
    client.log_artifacts(run.info.run_id, str(result.bundle_path), "model/artifacts/bundle")
    client.set_terminated(run.info.run_id)
    client.create_registered_model(name)
    for _ in range(2):
        client.create_model_version(name, f"runs:/{run.info.run_id}/model", run.info.run_id)
    set_alias(name, CHAMPION, "1", tracking_uri=uri)
    return uri


class _Load:
    """Threads posting /predict over keep-alive connections until stopped."""

    def __init__(self, port: int, body: bytes, clients: int = 6) -> None:
        self.port = port
        self.body = body
        self.stop = threading.Event()
        self.versions: list[str] = []
        self.failures: list[str] = []
        self.threads = [threading.Thread(target=self._client) for _ in range(clients)]

    def _client(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Content-Type": "application/json"}
        while not self.stop.is_set():
            try:
                connection.request("POST", "/predict", self.body, headers)
                response = connection.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as error:
                self.failures.append(f"connection: {error!r}")
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                continue
            if response.status != 200:
                self.failures.append(f"{response.status}: {payload[:200]!r}")
                continue
            self.versions.append(json.loads(payload)["model"]["version"])
        connection.close()

    def __enter__(self) -> _Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


def test_alias_move_under_load_swaps_the_champion_with_no_failed_request(
    churn: Any, tmp_path: Path
) -> None:
    import cairn.registry
    from cairn.serving import create_app, run_in_thread
    from cairn.serving._follow import AliasFollower

    uri = _registered_twice(churn, tmp_path / "project")
    reference = f"models:/{churn.spec.project.name}@champion"
    follower = AliasFollower(reference, uri, interval=0.1)
    app = create_app(reference, tracking_uri=uri, follow=follower)
    body = json.dumps({"records": records_of(churn, 3)}).encode()
    with run_in_thread(app) as server, _Load(server.port, body) as load:
        time.sleep(0.5)
        before = len(load.versions)
        cairn.registry.promote(tmp_path / "project" / "cairn.toml", "2", reason="test")
        deadline = time.monotonic() + 60
        while not follower.swaps and time.monotonic() < deadline:
            time.sleep(0.05)
        assert follower.swaps, f"no swap within 60 s: {follower.last_error}"
        time.sleep(0.5)  # traffic on the new champion
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.request("GET", "/health")
        health = json.loads(connection.getresponse().read())
        connection.close()
    assert load.failures == []
    assert before > 0
    assert load.versions[:before] == ["1"] * before
    assert load.versions[-1] == "2"
    # answered in order per connection: once a client sees version 2 it never sees 1 again
    assert set(load.versions) == {"1", "2"}
    assert health["version"] == "2"
    assert health["following"]["swaps"] == 1
    assert health["following"]["last_swap"]["from"] == "1"


def test_follow_alias_needs_a_registry_alias(tmp_path: Path) -> None:
    from cairn.serving._follow import AliasFollower

    with pytest.raises(ServingError, match="models:/NAME@champion"):
        AliasFollower(str(tmp_path), None)
    with pytest.raises(ServingError, match="fixed version"):
        AliasFollower("models:/churn/3", None)


def test_cli_follow_alias_on_a_folder_is_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "cairn", "serve", str(tmp_path), "--follow-alias", "--no-log"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1
    assert "--follow-alias needs a registry alias" in output
    assert "Traceback" not in output


def test_a_version_that_fails_its_checks_is_skipped_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server keeps its model, says why once, and takes the next good version."""
    import types

    import cairn.tracking
    from cairn.exceptions import BundleError
    from cairn.serving._follow import AliasFollower

    lines: list[str] = []
    swapped: list[Any] = []
    champion = types.SimpleNamespace(version="1", engine="onnx")
    service = types.SimpleNamespace(
        arms=[types.SimpleNamespace(model=champion)], replace_champion=swapped.append
    )
    follower = AliasFollower("models:/churn@champion", "sqlite:///x.db", announce=lines.append)
    alias = {"version": "2"}
    monkeypatch.setattr(cairn.tracking, "alias_version", lambda *a, **k: alias["version"])

    def load(version: str) -> Any:
        if version == "2":
            raise BundleError("model.joblib does not match its hash")
        return types.SimpleNamespace(version=version, engine="onnx")

    monkeypatch.setattr(follower, "_load", load)
    assert follower.check(service) is False
    assert follower.check(service) is False  # not loaded, nor reported, again
    assert len(lines) == 1 and "still serving version 1" in lines[0]
    assert "does not match its hash" in (follower.last_error or "")
    alias["version"] = "3"
    assert follower.check(service) is True
    assert [m.version for m in swapped] == ["3"]
    assert follower.status()["last_swap"]["to"] == "3" and follower.last_error is None


def test_a_removed_alias_is_reported_once_and_the_model_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import types

    import cairn.tracking
    from cairn.serving._follow import AliasFollower

    lines: list[str] = []
    service = types.SimpleNamespace(
        arms=[types.SimpleNamespace(model=types.SimpleNamespace(version="1"))],
        replace_champion=lambda model: pytest.fail("nothing to swap in"),
    )
    follower = AliasFollower("models:/churn@champion", "sqlite:///x.db", announce=lines.append)
    monkeypatch.setattr(cairn.tracking, "alias_version", lambda *a, **k: None)
    assert follower.check(service) is False
    assert follower.check(service) is False
    assert len(lines) == 1 and "no longer set; still serving version 1" in lines[0]
    assert follower.status()["last_error"] == lines[0]
    monkeypatch.setattr(cairn.tracking, "alias_version", lambda *a, **k: "1")
    assert follower.check(service) is False
    assert follower.status()["last_error"] is None  # set again, on the version served
    for interval in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ServingError, match="--follow-alias-interval"):
            AliasFollower("models:/churn@champion", None, interval=interval)
