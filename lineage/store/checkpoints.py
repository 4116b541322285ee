"""Signed checkpoints of the chained logs: written to the store and exported as files.

Every N rows or T seconds of a log (and whenever the consumer stops or loses
a partition) the writer signs the log's tree head as a C2SP
``tlog-checkpoint`` note with the store's Ed25519 key
(:mod:`jejak.lineage.trust`). The note is stored in ``checkpoints`` together
with the compact range of the tree (so a writer can resume the log), **and**
written as a file under the export folder, outside the database:
``<folder>/<log>/<tree size, 20 digits>.checkpoint`` (one file per
checkpoint, never rewritten), so that a database administrator cannot
replace the history of signed heads unnoticed.

The origin line of a checkpoint is ``<store name>/<log>``, e.g.
``jejak-main/events/privacy.events/3``: it names the store, the topic and the
partition.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from jejak.lineage.store.chain import LogHead
from jejak.lineage.store.client import Store
from jejak.lineage.store.tables import CHECKPOINTS
from jejak.lineage.trust.checkpoint import Checkpoint, sign_checkpoint
from jejak.lineage.trust.note import Signer
from jejak.settings import Settings

log = logging.getLogger(__name__)


def checkpoint_file(folder: Path, log_name: str, size: int) -> Path:
    return folder.joinpath(*log_name.split("/")) / f"{size:020d}.checkpoint"


def exported(folder: Path) -> dict[str, dict[int, str]]:
    """Every exported checkpoint note: log -> tree size -> note text."""
    found: dict[str, dict[int, str]] = {}
    if not folder.is_dir():
        return found
    for path in folder.rglob("*.checkpoint"):
        log_name = "/".join(path.parent.relative_to(folder).parts)
        try:
            size = int(path.stem)
        except ValueError:
            continue
        found.setdefault(log_name, {})[size] = path.read_text(encoding="utf-8")
    return found


@dataclass
class Checkpointer:
    """Signs the heads of the logs a writer appends to, when they are due."""

    store: Store
    signer: Signer
    store_name: str
    folder: Path
    every_rows: int = 10_000
    every_s: float = 60.0

    def origin(self, log_name: str) -> str:
        return f"{self.store_name}/{log_name}"

    def due(self, head: LogHead) -> bool:
        if head.unsigned <= 0:
            return False
        return head.unsigned >= self.every_rows or time.monotonic() - head.signed_at >= self.every_s

    def sign_due(self, heads: Iterable[LogHead]) -> int:
        return self.sign([h for h in heads if self.due(h)])

    def sign(self, heads: Iterable[LogHead]) -> int:
        """Sign, store and export the current head of each log that has unsigned rows."""
        rows = []
        files: list[tuple[Path, str]] = []
        signed: list[LogHead] = []
        for head in heads:
            if head.unsigned <= 0 or head.tree.size != head.next_seq:
                continue
            cp = Checkpoint(self.origin(head.log), head.tree.size, head.tree.root())
            note = sign_checkpoint(cp, self.signer)
            rows.append(
                [
                    head.log,
                    cp.size,
                    cp.root_hash.hex(),
                    note,
                    [h.hex() for h in head.tree.hashes],
                    datetime.now(UTC),
                ]
            )
            files.append((checkpoint_file(self.folder, head.log, cp.size), note))
            signed.append(head)
        if not rows:
            return 0
        # the file first: a checkpoint in the store is always also outside it
        for path, note in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(note, encoding="utf-8")
            os.replace(tmp, path)
        self.store.insert_rows(CHECKPOINTS, rows)
        now = time.monotonic()
        for head in signed:
            head.signed_size, head.signed_at = head.tree.size, now
        log.info("signed %d checkpoint(s)", len(rows))
        return len(rows)


def trust_paths(settings: Settings, database: str | None = None) -> tuple[Path, Path, str]:
    """(key file, checkpoint folder, key name) of a store, defaults filled in.

    The defaults live beside the embedded store's data folder, one folder per
    database, so two stores never share a key or a checkpoint history.
    """
    trust, store = settings.trust, settings.store
    return (
        trust.key_file_for(store, database),
        trust.checkpoint_dir_for(store, database),
        trust.key_name_for(store, database),
    )


def open_checkpointer(settings: Settings, store: Store) -> Checkpointer:
    """The store's checkpointer: its signing key (created, and said so, when there is none)."""
    from jejak.lineage.trust.keys import ensure_key

    key_file, folder, name = trust_paths(settings, store.database)
    signer, created = ensure_key(key_file, name)
    if created:
        log.warning(
            "created a new checkpoint signing key %s (key %s); keep it safe and give its "
            "public key (jejak trust public-key) to whoever verifies this store",
            key_file,
            signer.verifier().to_string(),
        )
    return Checkpointer(
        store,
        signer,
        signer.name,
        folder,
        every_rows=settings.trust.checkpoint_every_events,
        every_s=settings.trust.checkpoint_every_s,
    )


def sign_all(store: Store, checkpointer: Checkpointer) -> int:
    """Sign the head of every chained log that has rows no checkpoint covers yet.

    ``jejak store migrate`` does this after converting a store, so the
    converted history is under a signature from the start.
    """
    from jejak.lineage.store.chain import load_heads, load_journal_head

    heads = [load_journal_head(store)]
    for r in store.query("SELECT DISTINCT topic, partition FROM {db}.events ORDER BY 1, 2"):
        heads.extend(load_heads(store, r["topic"], [int(r["partition"])]).values())
    return checkpointer.sign(heads)
