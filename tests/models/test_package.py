"""cairn.models exports its public names lazily."""

from __future__ import annotations

import subprocess
import sys

import cairn.models
from cairn.models import search as search_package


def test_every_exported_name_resolves() -> None:
    for name in cairn.models.__all__:
        assert getattr(cairn.models, name) is not None, name
    assert sorted(dir(cairn.models)) == sorted(cairn.models.__all__)
    for name in search_package.__all__:
        assert getattr(search_package, name) is not None, name


def test_importing_models_loads_no_training_library() -> None:
    code = (
        "import sys, cairn.models, cairn.models.target\n"
        "print([m for m in ('sklearn.model_selection', 'lightgbm', 'catboost', 'optuna')"
        " if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
