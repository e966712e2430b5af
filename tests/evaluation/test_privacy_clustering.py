"""A clustering run on mall_customers rows with planted e-mails and names:
the data stage drops them, the bundle keeps the key, predictions on raw rows
work, and the card's Privacy section says what was done."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import cairn
from cairn.bundle import load_bundle
from cairn.data.pseudonym import KEY_FILE
from tests.conftest import load_dataset
from tests.data.personal_data import with_personal_data


def test_a_clustering_run_drops_personal_data_and_says_so(tmp_path: Path) -> None:
    frame = with_personal_data(load_dataset("mall_customers"), seed=6)
    frame = frame[[*load_dataset("mall_customers").columns, "email", "customer_name"]]
    frame.to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "cairn.toml").write_text(
        '[project]\nname = "mall"\n[data]\nsources = [{ path = "data.csv" }]\n'
        'id_columns = ["CustomerID"]\nprivacy = { customer_name = "drop" }\n'
        '[problem]\ntask = "clustering"\n[train]\ntime_budget = 6\n',
        encoding="utf-8",
    )
    result = cairn.run(tmp_path / "cairn.toml", register=False)
    schema = result.model.schema
    assert "email" not in schema and "customer_name" not in schema
    assert (result.bundle_path / KEY_FILE).exists()
    rows = frame.head(20)  # raw e-mails and names, as a user would send them
    np.testing.assert_array_equal(
        load_bundle(result.bundle_path).predict(rows), result.model.predict(rows)
    )
    card = (result.bundle_path.parent / "model_card.md").read_text(encoding="utf-8")
    section = card.split("\n## Privacy\n", 1)[1].split("\n## ", 1)[0]
    assert "| email | e-mail addresses | 100% | dropped from the features (the default" in section
    assert "| customer_name | person names | 100% | dropped from the features (as the" in section
    assert frame["email"].iloc[0] not in card
