"""Reading a table or a query from a SQL database through SQLAlchemy."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn.data.sources._files import check_file, clean_columns
from cairn.data.sources._formats import first_line
from cairn.exceptions import DataError

if TYPE_CHECKING:
    import pandas as pd


def read_sql(
    url: str,
    *,
    table: str | None,
    query: str | None,
    root: Path | None,
    where: str,
) -> pd.DataFrame:
    import pandas as pd
    import sqlalchemy as sa
    from sqlalchemy import exc

    try:
        parsed = sa.engine.make_url(url)
    except exc.ArgumentError:
        raise DataError(
            f"{where}: {url!r} is not a SQLAlchemy database URL; write e.g. "
            "'sqlite:///data.db' or 'postgresql+psycopg://user:password@host:5432/database'"
        ) from None
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        parsed = _sqlite_url(parsed, root=root, where=where)
    engine = _create_engine(parsed, shown=shown, where=where)
    try:
        with engine.connect() as connection:
            if table is not None:
                schema, name = _find_table(connection, table, shown=shown, where=where)
                frame = pd.read_sql_table(name, connection, schema=schema)
                what = f"table {table!r}"
            else:
                assert query is not None
                frame = pd.read_sql_query(query, connection)
                what = "the query"
    except DataError:
        raise
    except (exc.OperationalError, exc.InterfaceError) as error:
        raise DataError(
            f"{where}: cannot query {shown} ({_db_message(error)}); check that the server "
            "is running, the host, port, user, password and database name"
        ) from None
    except (exc.SQLAlchemyError, pd.errors.DatabaseError) as error:
        raise DataError(
            f"{where}: the SQL failed on {shown}: {_db_message(error)}; check the query"
        ) from None
    finally:
        engine.dispose()
    if len(frame) == 0:
        raise DataError(f"{where}: {what} on {shown} is empty (no rows)")
    return clean_columns(frame)


def _sqlite_url(parsed: Any, *, root: Path | None, where: str) -> Any:
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return parsed
    path = Path(database).expanduser()
    if not path.is_absolute() and root is not None:
        path = root / path
    if not path.is_file():
        # sqlite would silently create an empty database; say what is wrong instead.
        try:
            check_file(path)
        except DataError as error:
            raise DataError(f"{where}: SQLite database {error}") from None
    return parsed.set(database=str(path))


def _create_engine(parsed: Any, *, shown: str, where: str) -> Any:
    import sqlalchemy as sa
    from sqlalchemy import exc

    backend = parsed.get_backend_name()
    try:
        return sa.create_engine(parsed)
    except exc.NoSuchModuleError:
        raise DataError(
            f"{where}: {shown}: SQLAlchemy has no dialect {parsed.drivername!r}; cairn reads "
            "SQLite ('sqlite:///FILE') and PostgreSQL ('postgresql+psycopg://...')"
        ) from None
    except ImportError as error:
        if backend == "postgresql":
            hint = (
                "install the PostgreSQL driver: pip install 'cairn[postgres]' (psycopg) and "
                "write the URL as 'postgresql+psycopg://...'"
            )
        else:
            hint = f"install the driver for {backend}: pip install {error.name or backend}"
        raise DataError(
            f"{where}: the database driver for {shown} is not installed ({error}); {hint}"
        ) from None
    except (exc.ArgumentError, TypeError, ValueError) as error:
        raise DataError(f"{where}: invalid database URL {shown} ({error})") from None


def _find_table(connection: Any, table: str, *, shown: str, where: str) -> tuple[str | None, str]:
    import sqlalchemy as sa

    inspector = sa.inspect(connection)
    candidates: list[tuple[str | None, str]] = [(None, table)]
    if "." in table:
        prefix, _, rest = table.partition(".")
        candidates.append((prefix, rest))
    for schema, name in candidates:
        if inspector.has_table(name, schema=schema):
            return schema, name
        if name in inspector.get_view_names(schema=schema):
            return schema, name
    tables = sorted(inspector.get_table_names()) + sorted(inspector.get_view_names())
    close = difflib.get_close_matches(table, tables, n=3)
    hint = f"; did you mean {', '.join(repr(t) for t in close)}?" if close else ""
    listing = ", ".join(tables) if tables else "none"
    raise DataError(f"{where}: table {table!r} not found in {shown}; tables there: {listing}{hint}")


def _db_message(error: BaseException) -> str:
    original = getattr(error, "orig", None)
    return first_line(original if original is not None else error)
