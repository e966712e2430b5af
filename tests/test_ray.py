"""Choosing and reaching a Ray executor: the names accepted, the one-line
errors (unknown name, Ray not installed, nothing listening), and the rule
that keeps small searches local. No cluster is started here."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cairn._ray import check_executor, connect, stays_local
from cairn.cli.app import app
from cairn.exceptions import CairnError
from cairn.spec import TrainSection


def test_executor_names_are_checked_in_the_spec_and_on_the_command_line(tmp_path: Path) -> None:
    assert TrainSection(executor="ray://head.internal:10001").executor.startswith("ray://")
    assert TrainSection().executor == "local" and TrainSection().cpus_per_trial == 1
    with pytest.raises(ValueError, match="'spark' is not an executor; use local, ray"):
        TrainSection(executor="spark")
    with pytest.raises(ValueError, match="cpus_per_trial"):
        TrainSection(cpus_per_trial=0)
    done = CliRunner().invoke(app, ["run", str(tmp_path / "cairn.toml"), "--executor", "ray:/x"])
    assert done.exit_code != 0
    assert "--executor = 'ray:/x' is not an executor" in done.output
    assert "Traceback" not in done.output


def test_without_ray_installed_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a)
    )
    with pytest.raises(CairnError, match=r"needs Ray, not installed; .*pip install 'cairn\[ray\]'"):
        check_executor("ray", "train.executor")
    assert check_executor("local") == "local"
    done = CliRunner().invoke(app, ["run", str(tmp_path / "cairn.toml"), "--executor", "ray"])
    assert done.exit_code != 0 and "pip install 'cairn[ray]'" in done.output


def test_small_searches_stay_local_by_a_stated_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert stays_local("local", 5) == ""
    # Starting a local Ray (~10 s) pays from a 100 s budget.
    assert "budget is under 100 s" in stays_local("ray", 99)
    assert stays_local("ray", 100) == ""
    # Joining a running cluster (~1 s) pays from 10 s.
    assert "under 10 s" in stays_local("ray://head:10001", 9)
    assert stays_local("ray://head:10001", 10) == ""
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")
    assert stays_local("ray", 30) == ""


def test_an_address_where_nothing_listens_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("ray")
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:9")  # discard port: nothing listens
    started = time.monotonic()
    expected = r"cannot connect to Ray at 127\.0\.0\.1:9 .*ray start --head"
    with pytest.raises(CairnError, match=expected):
        connect("ray")
    assert time.monotonic() - started < 30
