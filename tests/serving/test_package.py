"""The package's public names, and what importing it costs."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import cairn.serving


def test_public_names_are_complete_sorted_and_importable() -> None:
    assert cairn.serving.__all__ == sorted(cairn.serving.__all__)
    for name in cairn.serving.__all__:
        assert getattr(cairn.serving, name) is not None


def test_importing_the_commands_loads_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "import cairn.cli.serving\n"
        "heavy = [m for m in ('fastapi', 'onnxruntime', 'sklearn', 'lightgbm', 'pandas', "
        "'mlflow') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY []" in done.stdout, done.stdout + done.stderr


def test_serving_a_graph_needs_no_training_code(churn: Any) -> None:
    """The ONNX engine reads the bundle, the schema and the graph: neither
    scikit-learn, LightGBM nor cairn's training modules are imported."""
    code = (
        "import sys\n"
        "from cairn.serving.app import create_app\n"
        "from cairn.serving.engine import load_served_model\n"
        "model = load_served_model(sys.argv[1])\n"
        "create_app(model)\n"
        "heavy = [m for m in ('sklearn', 'lightgbm', 'catboost', 'mlflow', 'cairn.models', "
        "'cairn.workflow', 'cairn.features') if m in sys.modules]\n"
        "print(model.engine, 'HEAVY', heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(churn.bundle_path)], capture_output=True, text=True
    )
    assert "onnx HEAVY []" in done.stdout, done.stdout + done.stderr
