"""Reading tables and queries from SQL databases."""

from __future__ import annotations

import importlib.util
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from cairn.data.sources import read_source
from cairn.exceptions import DataError
from cairn.spec import SourceSpec

# --------------------------------------------------------------------------- SQL


@pytest.fixture
def sqlite_db(tmp_path, titanic) -> Path:
    path = tmp_path / "titanic.db"
    with sqlite3.connect(path) as connection:
        titanic.to_sql("titanic", connection, index=False)
        connection.execute("CREATE TABLE passengers_empty (id INTEGER)")
    return path


def test_sqlite_table(sqlite_db, titanic):
    frame = read_source(SourceSpec(sql=f"sqlite:///{sqlite_db}", table="titanic"), root=Path())
    assert frame.shape == titanic.shape
    assert list(frame.columns) == list(titanic.columns)
    assert frame["Age"].isna().sum() == 177


def test_sqlite_query_and_relative_path(sqlite_db):
    source = SourceSpec(
        sql="sqlite:///titanic.db", query="SELECT * FROM titanic WHERE Sex = 'female'"
    )
    frame = read_source(source, root=sqlite_db.parent)
    assert len(frame) == 314
    assert set(frame["Sex"]) == {"female"}


def test_sqlite_unknown_table_lists_tables(sqlite_db):
    source = SourceSpec(sql=f"sqlite:///{sqlite_db}", table="titanik")
    with pytest.raises(DataError) as info:
        read_source(source, root=Path())
    message = str(info.value)
    assert "table 'titanik' not found" in message
    assert "tables there: passengers_empty, titanic" in message
    assert "did you mean 'titanic'" in message


def test_sqlite_empty_table_and_bad_query(sqlite_db):
    url = f"sqlite:///{sqlite_db}"
    with pytest.raises(DataError, match=r"table 'passengers_empty' .* is empty"):
        read_source(SourceSpec(sql=url, table="passengers_empty"), root=Path())
    with pytest.raises(DataError, match=r"the SQL failed .*no such column"):
        read_source(SourceSpec(sql=url, query="SELECT nope FROM titanic"), root=Path())


def test_sqlite_missing_database_file(tmp_path):
    (tmp_path / "titanic.db").write_bytes(b"")
    source = SourceSpec(sql="sqlite:///titanc.db", table="titanic")
    with pytest.raises(DataError, match=r"SQLite database .*titanc.db: file not found; did you"):
        read_source(source, root=tmp_path)
    assert not (tmp_path / "titanc.db").exists()


def test_sql_bad_urls(tmp_path):
    with pytest.raises(DataError, match="not a SQLAlchemy database URL"):
        read_source(SourceSpec(sql="not a url", table="t"), root=tmp_path)
    with pytest.raises(DataError, match=r"no dialect 'nosuchdb'.*SQLite.*PostgreSQL"):
        read_source(SourceSpec(sql="nosuchdb://host/db", table="t"), root=tmp_path)


@pytest.mark.skipif(
    importlib.util.find_spec("psycopg2") is not None, reason="psycopg2 is installed"
)
def test_missing_postgres_driver_says_what_to_install(tmp_path):
    source = SourceSpec(sql="postgresql+psycopg2://user:secret@127.0.0.1/db", table="t")
    with pytest.raises(DataError) as info:
        read_source(source, root=tmp_path)
    message = str(info.value)
    assert "pip install 'cairn[postgres]'" in message
    assert "secret" not in message


@pytest.mark.postgres
def test_postgres_table_and_query(postgres_server):
    frame = read_source(
        SourceSpec(sql=postgres_server.url, table=postgres_server.table), root=Path()
    )
    assert frame.shape == (postgres_server.rows, 12)
    assert frame["Age"].isna().sum() == 177
    query = 'SELECT "PassengerId", "Sex" FROM titanic WHERE "Sex" = \'female\''
    frame = read_source(SourceSpec(sql=postgres_server.url, query=query), root=Path())
    assert frame.shape == (314, 2)
    with pytest.raises(DataError, match=r"table 'nope' not found .*tables there: titanic"):
        read_source(SourceSpec(sql=postgres_server.url, table="nope"), root=Path())


@pytest.mark.postgres
def test_postgres_connection_refused(postgres_server):
    url = postgres_server.url.rsplit(":", 1)[0] + ":9/postgres"
    with pytest.raises(DataError, match=r"cannot query .*check that the server is running"):
        read_source(SourceSpec(sql=url, table="titanic"), root=Path())


# --------------------------------------------------------------------------- import cost


def test_import_does_not_load_sqlalchemy():
    code = "import sys, cairn.data.sources; print('sqlalchemy' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "False"
