"""Shared fixtures for the data tests: the real datasets and a PostgreSQL server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.postgres import PostgresCluster

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"


def dataset_path(name: str) -> Path:
    """A dataset from ``../shared/datasets``; skips the test when it is absent."""
    path = DATASETS / name
    if not path.is_file():
        pytest.skip(f"dataset {name} not found in {DATASETS} (the shared datasets are absent)")
    return path


@dataclass(frozen=True)
class PostgresServer:
    """A throwaway PostgreSQL cluster holding the titanic table."""

    url: str  # SQLAlchemy URL (postgresql+psycopg://)
    table: str
    rows: int


@pytest.fixture(scope="session")
def postgres_server(postgres_cluster: PostgresCluster) -> PostgresServer:
    """The session's PostgreSQL server with the titanic table in a database of its own."""
    pytest.importorskip("psycopg", reason="psycopg not installed (pip install 'cairn[postgres]')")
    import pandas as pd
    import sqlalchemy as sa

    titanic = pd.read_csv(dataset_path("titanic.csv"))
    url = postgres_cluster.new_database("sources").replace(
        "postgresql://", "postgresql+psycopg://", 1
    )
    engine = sa.create_engine(url)
    try:
        titanic.to_sql("titanic", engine, index=False)
    finally:
        engine.dispose()
    return PostgresServer(url=url, table="titanic", rows=len(titanic))


@pytest.fixture
def dataset() -> Callable[[str], Path]:
    """``dataset("titanic.csv")``: the path of a shared dataset, or skip."""
    return dataset_path
