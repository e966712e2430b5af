import subprocess
import sys

import cairn.eda
import cairn.evaluation


def test_evaluation_exports_are_sorted_and_resolve() -> None:
    names = cairn.evaluation.__all__
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(cairn.evaluation, name) is not None, name
    assert sorted(dir(cairn.evaluation)) == sorted(names)


def test_evaluation_package_loads_no_training_library() -> None:
    code = (
        "import sys, cairn.evaluation; "
        "print(sorted(m for m in ('sklearn', 'lightgbm', 'catboost') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_eda_offers_profile_and_report_functions() -> None:
    namespace: dict[str, object] = {}
    exec("from cairn.eda import *", namespace)
    assert callable(namespace["profile"]) and callable(namespace["write_profile_report"])
    assert callable(namespace["report"].render_profile)  # type: ignore[attr-defined]
