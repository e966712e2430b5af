"""Reading a table from an ``http(s)`` URL: download to a temporary file, then read it."""

from __future__ import annotations

import shutil
import tempfile
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING

from cairn.data.sources._files import read_file
from cairn.data.sources._formats import (
    CONTENT_TYPES,
    FORMATS,
    TEXT_FORMATS,
    format_from_name,
    normalise_format,
    supported_extensions,
)
from cairn.exceptions import DataError

if TYPE_CHECKING:
    import pandas as pd


_DOWNLOAD_TIMEOUT_S = 60.0


def read_url(
    url: str,
    *,
    format: str | None,
    separator: str | None,
    encoding: str | None,
    sheet: str | int | None,
    decimal: str | None = None,
    missing: list[str] | None = None,
) -> pd.DataFrame:
    name = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name
    fmt, compression = format_from_name(name)
    if format is not None:
        fmt = normalise_format(format, where=url)
        if fmt not in TEXT_FORMATS:
            compression = None
    with tempfile.TemporaryDirectory(prefix="cairn-download-") as folder:
        target = Path(folder) / "download"
        content_type = _download(url, target)
        if fmt is None:
            fmt = CONTENT_TYPES.get(content_type)
        if fmt is None:
            raise DataError(
                f"{url}: cannot tell the format from the URL or its Content-Type "
                f"({content_type or 'none'}); supported extensions: "
                f"{supported_extensions()}. Set `format` to one of {', '.join(FORMATS)}"
            )
        if target.stat().st_size == 0:
            raise DataError(f"{url}: is empty (the server sent 0 bytes)")
        return read_file(
            target,
            fmt,
            compression=compression,
            separator=separator,
            encoding=encoding,
            sheet=sheet,
            where=url,
            decimal=decimal,
            missing=missing,
        )


def _download(url: str, target: Path) -> str:
    """Save ``url`` to ``target``; returns the media type of the response."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": "cairn"})
    try:
        with (
            urllib.request.urlopen(request, timeout=_DOWNLOAD_TIMEOUT_S) as response,
            target.open("wb") as out,
        ):
            shutil.copyfileobj(response, out, length=1024 * 1024)
            return str(response.headers.get_content_type() or "").lower()
    except urllib.error.HTTPError as error:
        raise DataError(
            f"{url}: download failed with HTTP {error.code} {error.reason}; check the URL "
            "and that it is public"
        ) from None
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, TimeoutError):
            raise DataError(
                f"{url}: download timed out after {_DOWNLOAD_TIMEOUT_S:g} s; check the "
                "network or download the file and use 'path'"
            ) from None
        raise DataError(
            f"{url}: cannot be downloaded ({reason}); check the URL and the network"
        ) from None
    except TimeoutError:
        raise DataError(
            f"{url}: download timed out after {_DOWNLOAD_TIMEOUT_S:g} s; check the network "
            "or download the file and use 'path'"
        ) from None
    except (OSError, ValueError) as error:
        raise DataError(f"{url}: cannot be downloaded ({error})") from None
