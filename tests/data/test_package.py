"""The cairn.data package: its exports load lazily and its modules stay layered."""

from __future__ import annotations

import subprocess
import sys

import cairn.data


def _modules_after(code: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", f"import sys; {code}; print(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return set(done.stdout.split())


def test_every_export_resolves_and_all_is_complete() -> None:
    assert set(cairn.data.__all__) == set(cairn.data._LAZY)
    for name in cairn.data.__all__:
        assert getattr(cairn.data, name) is not None


def test_importing_the_package_or_the_schema_loads_no_training_library() -> None:
    loaded = _modules_after("import cairn.data, cairn.data.schema")
    assert not {"sklearn", "cairn.data.quality", "cairn.data.split"} & loaded


def test_repair_does_not_import_the_checks() -> None:
    # The findings types live in their own module, so repair needs no quality.
    loaded = _modules_after("import cairn.data.repair")
    assert "cairn.data.findings" in loaded
    assert "cairn.data.quality" not in loaded
