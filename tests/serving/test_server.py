"""Safe by default: loopback without a key, anything else with one."""

from __future__ import annotations

from pathlib import Path

import pytest

from cairn.exceptions import ServingError
from cairn.serving.server import check_bind, is_loopback, read_api_key


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3") and not is_loopback("host")


def test_public_addresses_need_a_long_key() -> None:
    check_bind("127.0.0.1", None)
    with pytest.raises(ServingError, match="needs an API key"):
        check_bind("0.0.0.0", None)
    with pytest.raises(ServingError, match="shorter than 16"):
        check_bind("0.0.0.0", "short")
    check_bind("0.0.0.0", "k" * 32)


def test_keys_from_files_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("  secret-key-0123456789  \n")
    key_file.chmod(0o644)
    with pytest.raises(ServingError, match="chmod 600"):
        read_api_key(file=key_file)
    key_file.chmod(0o600)
    assert read_api_key(file=key_file) == "secret-key-0123456789"
    empty = tmp_path / "empty"
    empty.write_text("\n")
    empty.chmod(0o600)
    with pytest.raises(ServingError, match="empty"):
        read_api_key(file=empty)
    with pytest.raises(ServingError, match="cannot read"):
        read_api_key(file=tmp_path / "missing")
    monkeypatch.setenv("MY_KEY", "from-the-environment")
    assert read_api_key(env="MY_KEY") == "from-the-environment"
    monkeypatch.delenv("MY_KEY")
    assert read_api_key(env="MY_KEY") is None
