"""Reading tables from http(s) URLs."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pytest

from cairn.data.sources import read_source, read_table
from cairn.exceptions import DataError
from cairn.spec import SourceSpec

# --------------------------------------------------------------------------- URLs


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map: ClassVar[dict[str, str]] = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        "": "text/csv",
    }

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_root(tmp_path, monkeypatch) -> Iterator[tuple[str, Path]]:
    """A static file server on 127.0.0.1 (loopback only) serving a folder."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    folder = tmp_path / "www"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_read_csv_over_http(http_root, titanic):
    base, folder = http_root
    titanic.to_csv(folder / "titanic.csv", index=False)
    frame = read_table(f"{base}/titanic.csv?raw=1")
    pd.testing.assert_frame_equal(frame, titanic)
    titanic.to_parquet(folder / "titanic.parquet")
    assert read_table(f"{base}/titanic.parquet").shape == titanic.shape


def test_url_format_from_content_type(http_root):
    base, folder = http_root
    (folder / "export").write_text("a;b\n1;2\n")
    assert read_table(f"{base}/export").shape == (1, 2)


def test_url_errors_name_the_url(http_root):
    base, folder = http_root
    with pytest.raises(DataError, match=rf"{base}/missing\.csv: download failed with HTTP 404"):
        read_table(f"{base}/missing.csv")
    (folder / "blob.bin").write_bytes(b"\x00\x01")
    with pytest.raises(DataError, match=rf"{base}/blob\.bin: cannot tell the format"):
        read_table(f"{base}/blob.bin")
    (folder / "empty.csv").write_bytes(b"")
    with pytest.raises(DataError, match=rf"{base}/empty\.csv: is empty"):
        read_table(f"{base}/empty.csv")


def test_url_connection_refused():
    with pytest.raises(DataError, match=r"http://127\.0\.0\.1:9/x\.csv: cannot be downloaded"):
        read_table("http://127.0.0.1:9/x.csv")


def test_url_source(http_root, tmp_path):
    base, folder = http_root
    (folder / "t.csv").write_text("a,b\n1,2\n")
    frame = read_source(SourceSpec(url=f"{base}/t.csv"), root=tmp_path)
    assert frame.shape == (1, 2)
