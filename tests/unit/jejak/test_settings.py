from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from jejak.errors import ConfigError
from jejak.lineage.store.client import check_identifier, database_from_dsn
from jejak.settings import Settings, describe, redact_dsn


def test_defaults() -> None:
    s = Settings()
    assert s.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert s.kafka.topic == "privacy.events"
    assert s.kafka.group_id == "jejak-lineage"
    dsn = s.store.dsn.get_secret_value()
    assert dsn.startswith("chdb:///")
    assert dsn.endswith(str(Path(".jejak") / "chdb"))


def test_environment_with_nesting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JEJAK_KAFKA__BOOTSTRAP_SERVERS", "10.0.0.1:9092")
    monkeypatch.setenv("JEJAK_KAFKA__TOPIC", "pe")
    monkeypatch.setenv("JEJAK_STORE__DSN", "https://u:pw@ch:8443/db")
    s = Settings.from_env()
    assert s.kafka.bootstrap_servers == "10.0.0.1:9092"
    assert s.kafka.topic == "pe"
    assert "pw" not in repr(s)
    assert s.store.redacted_dsn == "https://u:***@ch:8443/db"


def test_unknown_keys_are_rejected() -> None:
    with pytest.raises(ValidationError):
        Settings(kafka={"bootstrap": "x"})  # type: ignore[arg-type]


def test_redaction_leaves_password_less_dsns_alone() -> None:
    assert redact_dsn("chdb:///tmp/x") == "chdb:///tmp/x"
    assert redact_dsn("http://default@h:8123") == "http://default@h:8123"
    assert redact_dsn("http://a:b@h") == "http://a:***@h"


def test_describe_lists_every_variable_and_hides_secrets() -> None:
    rows = {var: default for var, default, _ in describe()}
    assert "JEJAK_KAFKA__BOOTSTRAP_SERVERS" in rows
    assert "JEJAK_STORE__DSN" in rows
    assert rows["JEJAK_SDK__PSEUDONYMIZATION_KEY"] == "(secret)"


def test_identifiers_and_dsn_database() -> None:
    assert check_identifier("jejak_1") == "jejak_1"
    with pytest.raises(ConfigError):
        check_identifier("x; DROP TABLE y")
    assert database_from_dsn("http://h:8123/audit") == "audit"
    assert database_from_dsn("chdb:///tmp/x") is None
