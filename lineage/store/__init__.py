"""The append-only lineage store in ClickHouse (embedded chDB or a server)."""

from jejak.lineage.store.client import Store, connect

__all__ = ["Store", "connect"]
