"""Regenerate data/golden.json: ``.venv/bin/python tests/unit/schemas/golden.py``.

Only when a *new schema version* is added on purpose: the point of the golden
file is that the bytes of an existing version never change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).parent / "data" / "golden.json"

_ENVELOPE: dict[str, Any] = {
    "occurred_at": "2026-03-01T10:15:30.250Z",
    "subject_id": "5f0c3e1a9b7d4c2e8f6a1b3c5d7e9f01",
}
_PRODUCER = {
    "producer": {"service": "checkout", "version": "4.2.0"},
    "trace_id": "4bf92f3577b34da6",
}

EVENTS: list[dict[str, Any]] = [
    {
        "event_id": "k-1",
        "kind": "collection",
        **_ENVELOPE,
        **_PRODUCER,
        "policy_version": "2024-05",
        "data_categories": ["credit.report"],
        "basis": "A.3.3",
        "inputs": ["bureau.api"],
        "outputs": ["risk.scores", "risk.audit"],
        "source": "third_party",
        "source_partner": "credit_bureau",
    },
    {
        "event_id": "u-1",
        "kind": "use",
        **_ENVELOPE,
        "data_categories": ["interaction.review"],
        "purpose": "marketing.communications",
        "channel": "newsletter",
        "public": True,
    },
    {
        "event_id": "d-1",
        "kind": "disclosure",
        **_ENVELOPE,
        **_PRODUCER,
        "data_categories": ["account.email", "transaction.amount"],
        "purpose": "legal.compliance",
        "recipient": {"id": "polri-cyber", "kind": "law_enforcement", "country": "ID"},
        "transfer": "share",
        "legal_request_ref": "LP/123/III/2026",
    },
    {
        "event_id": "c-1",
        "kind": "consent",
        **_ENVELOPE,
        "scope": "recipient:partner-fintech-1",
        "action": "granted",
    },
    {"event_id": "p-1", "kind": "policy_accepted", **_ENVELOPE, "policy_version": "2024-05"},
    {
        "event_id": "r-1",
        "kind": "subject_request",
        **_ENVELOPE,
        "request": "deletion",
        "request_ref": "DSR-2026-0001",
        "status": "received",
    },
    {
        "event_id": "x-1",
        "kind": "deletion",
        **_ENVELOPE,
        "data_categories": ["payment"],
        "request_ref": "r-1",
    },
    {"event_id": "a-1", "kind": "account_closed", **_ENVELOPE, "trace_id": "ñ-ü-日本"},
]


def main() -> None:
    from jejak.schemas.codec import encode
    from jejak.schemas.models import parse_event

    rows = []
    for data in EVENTS:
        event = parse_event(data)
        payload = encode(event)
        rows.append(
            {
                "kind": data["kind"],
                "event": data,
                "fingerprint": payload[2:10].hex(),
                "body": payload[10:].hex(),
            }
        )
    GOLDEN.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
