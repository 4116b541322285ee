"""The store side of the reports people can send (:mod:`jejak.lineage.report`).

A module of its own so the access report's one read stays next to its
reason: the whole processing trail of one subject, each event once with its
verdict, oldest first. The report cites every one of these event ids and no
other; the read is by this subject's id only, so nothing about another person
can reach the letter.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jejak.lineage.store.client import Store


def subject_trail(store: Store, subject_id: str) -> list[dict[str, Any]]:
    """Every event of one subject, oldest first, with its verdict: the processing trail."""
    rows = store.query(
        """SELECT event_id, kind, occurred_at, data_categories AS categories, source,
                  source_partner, purpose, channel, recipient_id, recipient_kind, scope, action,
                  request, request_ref, decision, basis, reasons, policy_version,
                  claimed_policy_version
           FROM {db}.events WHERE subject_id = {s:String}
           ORDER BY occurred_at, topic, partition, seq""",
        {"s": subject_id},
    )
    for row in rows:
        at = row["occurred_at"]
        if isinstance(at, datetime) and at.tzinfo is None:  # DateTime64 'UTC' comes back naive
            row["occurred_at"] = at.replace(tzinfo=UTC)
        row["categories"] = list(row["categories"])
        row["reasons"] = list(row["reasons"])
    return rows
