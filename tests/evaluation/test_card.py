"""The model card, in Markdown and HTML, from real runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from cairn.evaluation.card import TASK_LIMITS, model_card, write_model_card
from cairn.evaluation.report import analyse_run
from cairn.evaluation.run_folder import load_run
from cairn.tasks import get_task, task_names

SECTIONS = (
    "Model details",
    "Intended use",
    "Data",
    "Privacy",
    "Features",
    "Metrics",
    "Objectives",
    "Limitations",
    "Training cost",
    "Versions",
)


def test_card_written_by_the_run_has_every_section(finished_run: Callable[[str], Path]) -> None:
    folder = finished_run("telco_churn")
    markdown = (folder / "model_card.md").read_text(encoding="utf-8")
    html = (folder / "model_card.html").read_text(encoding="utf-8")
    for title in SECTIONS:
        assert f"\n## {title}\n" in markdown
        assert f">{title}</a></h2>" in html
    run = load_run(folder)
    assert run.metadata["data_fingerprint"] in markdown
    assert "data.csv" in markdown  # the source
    assert "95% CI" in markdown and "| roc_auc |" in markdown
    for package, version in run.metadata["versions"].items():
        assert f"| {package} | {version} |" in markdown
    assert "| customerID | id |" in markdown and "not used (id)" in markdown


def test_intervals_and_limitations(finished_run: Callable[[str], Path], tmp_path: Path) -> None:
    analysis = analyse_run(finished_run("ames_house_prices"), resamples=300)
    card = model_card(analysis)
    assert card.verdict is False
    markdown = card.markdown()
    interval = analysis.intervals["rmse"]
    assert interval.low < interval.value < interval.high
    limitations = next(s for s in card.sections if s.title == "Limitations")
    items = limitations.blocks[0][1]
    assert any("is not met" in item for item in items)
    assert any(item.startswith("Small test set") for item in items)  # 292 test rows
    assert any(item.startswith("Input 'LotFrontage' was missing") for item in items) or any(
        "missing in" in item for item in items
    )
    assert "**Objectives: NOT all met.**" in markdown
    md, html = write_model_card(analysis, tmp_path)
    assert md.read_text(encoding="utf-8") == markdown
    page = html.read_text(encoding="utf-8")
    assert 'class="ci-chart"' in page and "<script" not in page  # a light page, no JavaScript


def test_multiclass_card_names_classes(finished_run: Callable[[str], Path]) -> None:
    card = model_card(analyse_run(finished_run("car_evaluation"), resamples=100))
    markdown = card.markdown()
    assert "| classes | acc, good, unacc, vgood |" in markdown
    limitations = next(s for s in card.sections if s.title == "Limitations").blocks[0][1]
    # 'good' and 'vgood' are rare: their test rows are few.
    assert any("Class 'good'" in item or "Class 'vgood'" in item for item in limitations)


@pytest.mark.parametrize("name", task_names())
def test_every_task_card_part_is_registered(name: str) -> None:
    missing = [p for p in get_task(name).card_parts if p not in TASK_LIMITS]
    assert not missing, f"{name} names card parts nobody writes: {missing}"


def test_card_asks_the_task_for_its_parts(
    finished_run: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    analysis = analyse_run(finished_run("car_evaluation"), importance=False, resamples=100)

    def limitations() -> list[str]:
        card = model_card(analysis)
        return next(s for s in card.sections if s.title == "Limitations").blocks[0][1]

    assert any(item.startswith("Imbalanced classes") for item in limitations())
    monkeypatch.setattr(type(get_task(analysis.run.task)), "card_parts", ())
    assert not any(item.startswith(("Imbalanced classes", "Class '")) for item in limitations())


def test_a_missing_category_is_not_called_imputed() -> None:
    from types import SimpleNamespace

    from cairn.data.quality import check_and_clean
    from cairn.data.sources import read_table
    from cairn.evaluation.card import _input_limits
    from tests.conftest import dataset_path

    ames = read_table(dataset_path("ames_house_prices"))
    # "NA" read as missing: FireplaceQu (5 grades) is then 47% missing
    spec_missing = ames.replace({"FireplaceQu": {"NA": None}, "Alley": {"NA": None}})
    schema = check_and_clean(spec_missing, target="SalePrice", id_columns=["Id"]).schema
    limits = _input_limits(SimpleNamespace(schema=schema, quality=None))  # type: ignore[arg-type]
    (grades,) = [line for line in limits if "'FireplaceQu'" in line]
    assert "missing kept as its own category" in grades and "imputed" not in grades
    # Alley's two values make it a boolean: its missing values are imputed.
    (alley,) = [line for line in limits if "'Alley'" in line]
    assert "imputed" in alley
