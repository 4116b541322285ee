"""Fixtures for the event-contract tests: codecs in both framings, schema folders to edit."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from schemas_helpers import SHIPPED, write_avsc

from jejak.schemas.codec import Codec


@pytest.fixture
def registry() -> SchemaRegistryClient:
    """confluent-kafka's in-memory registry (``mock://``); each instance is empty."""
    return SchemaRegistryClient.new_client({"url": "mock://jejak-tests"})


@pytest.fixture
def registry_codec(registry: SchemaRegistryClient) -> Codec:
    return Codec(registry=registry)


@pytest.fixture
def schema_dir(tmp_path: Path) -> Path:
    """A copy of the shipped schemas to add versions to."""
    target = tmp_path / "avro"
    shutil.copytree(SHIPPED, target)
    return target


@pytest.fixture
def add_version(schema_dir: Path) -> Callable[[str, Callable[[dict[str, Any]], None]], Path]:
    """``add_version(kind, edit)``: write ``<kind>.v<N+1>.avsc`` as the latest version edited."""

    def add(kind: str, edit: Callable[[dict[str, Any]], None]) -> Path:
        latest = max(
            schema_dir.glob(f"{kind}.v*.avsc"),
            key=lambda p: int(p.name.split(".v")[1].split(".")[0]),
        )
        version = int(latest.name.split(".v")[1].split(".")[0]) + 1
        definition = json.loads(latest.read_text(encoding="utf-8"))
        edit(definition)
        write_avsc(schema_dir, f"{kind}.v{version}.avsc", definition)
        return schema_dir

    return add
