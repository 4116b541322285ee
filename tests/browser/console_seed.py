"""A small, realistic store for the console: two subjects over five days, judged by the real engine.

Events go through the policy engine (:class:`~jejak.lineage.policy.Evaluator`)
and the store's own writer, so verdicts, alert summaries (with their clauses)
and the daily aggregates are what a running consumer would have written.
Also serves a console by hand: ``python tests/browser/console_seed.py [FOLDER [PORT]]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jejak.consumers.pipeline import alert_summary
from jejak.lineage.policy import Evaluator, highest_severity, load_policies
from jejak.lineage.store import Store, connect, migrate
from jejak.lineage.store.chain import load_heads
from jejak.lineage.store.checkpoints import Checkpointer
from jejak.lineage.store.writer import Batch, Origin, write_batch
from jejak.lineage.trust.note import Signer
from jejak.lineage.workspace import auth
from jejak.lineage.workspace.operations import Workspace
from jejak.schemas.models import parse_event

TOPIC = "privacy.events"
ALICE = "ps1_" + "a" * 32
BOB = "ps1_" + "b" * 32
DAY0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
ROLES = ("officer", "analyst", "auditor")


def _at(day: int, hour: int = 0) -> str:
    return (DAY0 + timedelta(days=day, hours=hour)).strftime("%Y-%m-%dT%H:%M:%SZ")


def events() -> list[dict[str, Any]]:
    """Alice: collected, used, shared with and without consent, asks for access. Bob: a broker."""
    out: list[dict[str, Any]] = [
        {
            "event_id": "a-collect-1",
            "kind": "collection",
            "occurred_at": _at(0),
            "subject_id": ALICE,
            "data_categories": ["account.email", "account.phone"],
            "source": "user",
        },
        {
            "event_id": "a-use-1",
            "kind": "use",
            "occurred_at": _at(0, 1),
            "subject_id": ALICE,
            "data_categories": ["account.email"],
            "purpose": "transaction.fulfilment",
        },
        {
            "event_id": "a-consent-1",
            "kind": "consent",
            "occurred_at": _at(0, 2),
            "subject_id": ALICE,
            "scope": "recipient:ads-co",
            "action": "granted",
        },
        {
            "event_id": "a-disc-1",
            "kind": "disclosure",
            "occurred_at": _at(1),
            "subject_id": ALICE,
            "data_categories": ["account.email"],
            "purpose": "marketing.advertising",
            "recipient": {"id": "ads-co", "kind": "promotion_partner"},
        },
        {
            "event_id": "a-consent-2",
            "kind": "consent",
            "occurred_at": _at(1, 3),
            "subject_id": ALICE,
            "scope": "recipient:ads-co",
            "action": "withdrawn",
        },
        {
            "event_id": "a-disc-2",
            "kind": "disclosure",
            "occurred_at": _at(2),
            "subject_id": ALICE,
            "data_categories": ["account.email", "account.phone"],
            "purpose": "marketing.advertising",
            "recipient": {"id": "ads-co", "kind": "promotion_partner"},
        },
        {
            "event_id": "a-ship-1",
            "kind": "disclosure",
            "occurred_at": _at(2, 2),
            "subject_id": ALICE,
            "data_categories": ["account.address"],
            "purpose": "transaction.fulfilment",
            "recipient": {"id": "kurir-jne", "kind": "logistics_provider"},
        },
        {
            "event_id": "a-request-1",
            "kind": "subject_request",
            "occurred_at": _at(3),
            "subject_id": ALICE,
            "request": "access",
            "request_ref": "DSR-2026-0001",
        },
    ]
    for day in range(5):
        out.append(
            {
                "event_id": f"b-disc-{day}",
                "kind": "disclosure",
                "occurred_at": _at(day, 5),
                "subject_id": BOB,
                "data_categories": ["transaction.items"],
                "purpose": "marketing.advertising",
                "recipient": {"id": "broker-9", "kind": "promotion_partner"},
            }
        )
        out.append(
            {
                "event_id": f"b-ship-{day}",
                "kind": "disclosure",
                "occurred_at": _at(day, 6),
                "subject_id": BOB,
                "data_categories": ["transaction.shipping_address"],
                "purpose": "transaction.fulfilment",
                "recipient": {"id": "kurir-jne", "kind": "logistics_provider"},
            }
        )
    out.append(
        {
            "event_id": "b-undeclared-1",
            "kind": "use",
            "occurred_at": _at(4, 8),
            "subject_id": BOB,
            "data_categories": ["transaction.items"],
            "purpose": "profiling.scoring",
        }
    )
    return out  # fmt: skip


@dataclass
class Desk:
    """A store filled through the writer, its workspace, and one token per role."""

    store: Store
    workspace: Workspace
    tokens: dict[str, str]


def fill(dsn: str, database: str, folder: Path, *, now: datetime | None = None) -> Desk:
    store = connect(dsn, database)
    migrate(store)
    signer = Signer.generate(f"jejak-{database}")
    checkpointer = Checkpointer(store, signer, signer.name, folder)
    policies = load_policies()
    evaluator = Evaluator(policies)
    heads = load_heads(store, TOPIC, [0])
    batch = Batch()
    for offset, data in enumerate(events()):
        event = parse_event(data)
        verdict = evaluator.evaluate(event)
        severity = highest_severity(verdict.reasons) if verdict.is_violation else None
        summary = alert_summary(event, verdict) if verdict.is_violation else ""
        batch.add(heads[0], event, verdict, Origin(TOPIC, 0, offset), severity or "", summary)
    write_batch(store, batch)
    checkpointer.sign(heads.values())
    clock = (lambda: now) if now is not None else (lambda: datetime.now(UTC))
    workspace = Workspace(store, policies, checkpointer=checkpointer, clock=clock)
    tokens = {
        role: auth.create_token(store, f"{role}-1", role, by="test", checkpointer=checkpointer)
        for role in ROLES
    }
    return Desk(store, workspace, tokens)


def main() -> None:  # pragma: no cover - a developer's tool
    """Serve the seeded console (a free port unless given) and print its URL and tokens."""
    import sys
    import time

    from jejak.lineage.api import ApiServer

    folder = Path(sys.argv[1] if len(sys.argv) > 1 else ".jejak/console-dev").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    desk = fill(f"chdb://{folder / 'chdb'}", f"c_{int(time.time())}", folder / "checkpoints")
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    server = ApiServer(desk.workspace, "127.0.0.1", port).start()
    print(server.url, flush=True)
    for role, token in desk.tokens.items():
        print(role, token, flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
