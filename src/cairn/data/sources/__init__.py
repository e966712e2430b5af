"""Reading the tables a project names in ``[[data.sources]]``.

A source is a local file, an ``http(s)`` URL or a SQL database reached through
SQLAlchemy. :func:`read_table` reads one file or URL, :func:`read_source` one
:class:`~cairn.spec.SourceSpec`, and :func:`collect` every source of a spec,
appended or joined into one frame.

Values are kept as read: pandas infers numbers and booleans, text stays text,
and no column role is decided here. Missing values are cairn's sentinels
(:data:`cairn.data.values.MISSING_SENTINELS`, not pandas' default list) or
the source's own ``missing`` strings; the words "None" and "NA" are left as
text for the type repair to decide (a category or missing). Every failure
is a :class:`~cairn.exceptions.DataError` saying what went wrong, where
(file, URL, source, column) and what to do.

Modules: ``_formats`` (format names and extensions), ``_detect`` (compression,
encoding and separator sniffing), ``_delimited``, ``_json`` and ``_files``
(readers), ``_http`` (downloads), ``_sql`` (databases), ``_read`` (one table
or source), ``_combine`` (append or join) and ``_combination`` (the record
of what combining did, its findings, and the per-source ``rename`` and
``values`` options). pandas, pyarrow and SQLAlchemy
are imported only when a table is read.
"""

from cairn.data.sources._combination import (
    Combination,
    JoinRecord,
    SourceRecord,
    apply_source_options,
    attach_combination,
    take_combination,
)
from cairn.data.sources._combine import collect
from cairn.data.sources._formats import FORMATS, READ_HINTS_ATTR
from cairn.data.sources._read import read_source, read_table

__all__ = [
    "FORMATS",
    "READ_HINTS_ATTR",
    "Combination",
    "JoinRecord",
    "SourceRecord",
    "apply_source_options",
    "attach_combination",
    "collect",
    "read_source",
    "read_table",
    "take_combination",
]
