"""The append-only lineage store in ClickHouse (embedded chDB or a server): one boundary.

Everything that reads or writes the store goes through this package: the
tables are declared once (:mod:`~jejak.lineage.store.tables`), migrations are
versioned (:mod:`~jejak.lineage.store.migrations`), events are written into
their partition's hash chain (:mod:`~jejak.lineage.store.writer`), checkpoints
are signed and exported (:mod:`~jejak.lineage.store.checkpoints`), the
compliance questions are answered (:mod:`~jejak.lineage.store.queries`),
a consumer reads the consent ledgers of the subjects it meets
(:mod:`~jejak.lineage.store.state`),
the trail is verified (:mod:`~jejak.lineage.store.verify`) and a person is
erased (:mod:`~jejak.lineage.store.erasure`). No SQL lives anywhere else.
"""

from jejak.lineage.store.client import Store, StoreNotFound, connect, open_existing
from jejak.lineage.store.migrations import migrate

__all__ = ["Store", "StoreNotFound", "connect", "migrate", "open_existing"]
