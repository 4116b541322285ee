"""Property: every kind survives JSON -> model -> Avro -> model -> JSON unchanged, in both framings."""

from __future__ import annotations

import json
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from hypothesis import HealthCheck, given, settings
from schemas_strategies import event_dicts

from jejak.schemas.codec import Codec, Framing
from jejak.schemas.models import EVENT_KINDS, event_from_json, event_to_json

SINGLE_OBJECT = Codec()
CONFLUENT = Codec(registry=SchemaRegistryClient.new_client({"url": "mock://roundtrip"}))


@pytest.mark.parametrize("codec", [SINGLE_OBJECT, CONFLUENT], ids=lambda c: str(c.framing))
@pytest.mark.parametrize("kind", sorted(EVENT_KINDS))
def test_round_trip(kind: str, codec: Codec) -> None:
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(event_dicts(kind))
    def round_trip(data: dict[str, Any]) -> None:
        event = event_from_json(json.dumps(data))
        text = event_to_json(event)
        payload = codec.encode(event)
        assert payload[0] == (0xC3 if codec.framing is Framing.SINGLE_OBJECT else 0x00)
        decoded = codec.decode(payload)
        assert decoded == event
        assert event_to_json(decoded) == text
        # and the JSON form reads back as the same event
        assert event_from_json(text) == event

    round_trip()
