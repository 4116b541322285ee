"""The consent state a consumer needs, read per subject when it first meets them.

A consumer judges an event against its subject's consent ledger (consents,
policy acceptances, account closures, in stream order). Reading the ledgers of
every subject of its partitions when the partitions are assigned costs time
in proportion to the history (2.4 million ledger rows at 10 million events);
instead the consumer asks, once per batch, for the ledgers of the subjects of
that batch it has not met yet (:func:`ledger_of_subjects`).

Read from the event log itself, not from the derived consent table: the log's
sorting key starts with the subject id, so the read touches only the granules
of these subjects (a few per month partition each), and the log is complete
the moment a batch is written, while a derived table may lag behind it.
``scope`` and ``action`` are the log's own columns, filled by the writer
exactly as the consent table derives them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import UTC, datetime

from jejak.lineage.policy.state import STATE_KINDS
from jejak.lineage.store.client import Store

_KINDS = ", ".join(f"'{k}'" for k in sorted(STATE_KINDS))


def ledger_of_subjects(
    store: Store, subjects: Collection[str]
) -> Iterator[tuple[str, str, str, datetime]]:
    """The consent-ledger entries of these subjects, in stream order.

    ``(subject_id, scope, action, occurred_at)`` with ``action`` one of
    granted, withdrawn, closed, to be replayed into the evaluator
    (``Evaluator.load_ledger``) before the subjects' next events are judged.
    One query for all of them. Stream order is the order of each log
    (topic, partition, seq); a subject's events share one partition.
    """
    if not subjects:
        return
    columns = store.query_columns(
        "SELECT subject_id, scope, action, occurred_at FROM {db}.events "
        f"WHERE subject_id IN {{s:Array(String)}} AND kind IN ({_KINDS}) "
        "ORDER BY topic, partition, seq",
        {"s": list(subjects)},
        width=4,
    )
    for subject, scope, action, at in zip(*columns, strict=True):
        yield subject, scope, action, at.replace(tzinfo=UTC) if at.tzinfo is None else at
