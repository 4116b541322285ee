"""Derivations and erasures take turns across the processes of one embedded store.

``jejak consume --workers`` runs derivations in worker processes and erasures
in the holder: without a lock between processes, a worker could insert an
erased subject's derived rows after the erasure removed them.
"""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

from jejak.lineage.store.client import Store
from jejak.lineage.store.derive import exclusive


def _store(folder: Path) -> Store:
    return Store(None, "jejak", f"chdb://{folder}")  # the lock needs no connection


def _other_process(folder: str, marks: str) -> None:
    (Path(marks) / "trying").touch()
    with exclusive(_store(Path(folder))):
        released = (Path(marks) / "released").exists()
        (Path(marks) / "acquired").write_text("after release" if released else "while held")


def test_a_second_process_waits_for_the_store_lock(tmp_path: Path) -> None:
    folder, marks = tmp_path / "chdb", tmp_path / "marks"
    marks.mkdir()
    store = _store(folder)
    context = multiprocessing.get_context("spawn")
    with exclusive(store):
        with exclusive(store):  # re-entrant within the process
            child = context.Process(target=_other_process, args=(str(folder), str(marks)))
            child.start()
            deadline = time.monotonic() + 60
            while not (marks / "trying").exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            assert (marks / "trying").exists()
            time.sleep(0.3)  # room for a broken lock to let the child in
            assert not (marks / "acquired").exists()
        (marks / "released").touch()
    child.join(60)
    assert child.exitcode == 0
    assert (marks / "acquired").read_text() == "after release"


def test_a_server_store_needs_no_lock_file(tmp_path: Path) -> None:
    store = Store(None, "jejak", "http://127.0.0.1:1")
    with exclusive(store):
        pass
    assert store.folder is None
    assert not list(tmp_path.iterdir())
