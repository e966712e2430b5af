"""Shared fixtures for the source-reading tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cairn.data.sources import read_table
from cairn.spec import ProjectSpec, parse_spec


def make_spec(root: Path, source_list: list[dict[str, Any]], **data: Any) -> ProjectSpec:
    return parse_spec(
        {
            "project": {"name": "t"},
            "data": {"sources": source_list, **data},
            "problem": {"target": "Survived"},
        },
        root=root,
    )


@pytest.fixture
def titanic(dataset) -> pd.DataFrame:
    return read_table(dataset("titanic.csv"))
