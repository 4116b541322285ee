"""The durable spool: append, replay order, commit, torn records, fsync policies, restart."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jejak.errors import ConfigError
from jejak.producers.spool import MAGIC, Position, Spool, encode_record


def _records(n: int, start: int = 0) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    return [
        (
            f"k{i % 7}".encode(),
            f"value-{i}".encode() * 3,
            [("jejak.kind", b"use"), ("n", str(i).encode())],
        )
        for i in range(start, start + n)
    ]


def _values(spool: Spool, limit: int = 1_000_000) -> list[bytes]:
    return [r.value for r in spool.read(limit)]


def test_append_then_read_in_order_with_key_and_headers(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append_many(_records(5))
        spool.append(b"key", b"last", [("h", b"\x00\xff")])
        records = spool.read(100)
    assert [r.value for r in records[:5]] == [f"value-{i}".encode() * 3 for i in range(5)]
    assert records[0].key == b"k0" and records[0].headers == (("jejak.kind", b"use"), ("n", b"0"))
    assert (records[-1].key, records[-1].value, records[-1].headers) == (
        b"key",
        b"last",
        (("h", b"\x00\xff"),),
    )
    assert [r.position for r in records] == sorted(r.position for r in records)


def test_read_in_batches_and_commit_moves_the_checkpoint(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append_many(_records(10))
        first = spool.read(4)
        assert spool.pending == 10 and spool.unread == 6
        spool.commit(first[-1].end)
        assert spool.pending == 6
        rest = spool.read(100)
        assert [r.value for r in first + rest] == [v for _, v, _ in _records(10)]
        spool.commit(rest[-1].end)
        assert spool.pending == 0 and spool.unread == 0


def test_restart_replays_what_was_not_committed(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append_many(_records(10))
        batch = spool.read(3)
        spool.commit(batch[-1].end)
        spool.read(3)  # read but never committed: the process "dies" here
    with Spool(tmp_path) as again:
        assert again.pending == 7
        assert _values(again) == [v for _, v, _ in _records(7, start=3)]


def test_rewind_reads_again_from_the_checkpoint(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append_many(_records(6))
        spool.commit(spool.read(2)[-1].end)
        spool.read(2)
        spool.rewind()
        assert _values(spool) == [v for _, v, _ in _records(4, start=2)]


def test_appends_after_the_reader_reached_the_end_are_read_next(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append_many(_records(2))
        assert len(spool.read(10)) == 2
        assert spool.read(10) == []
        spool.append_many(_records(2, start=2))
        assert _values(spool) == [v for _, v, _ in _records(2, start=2)]


def test_segments_roll_and_delivered_segments_are_deleted(tmp_path: Path) -> None:
    with Spool(tmp_path, segment_bytes=200) as spool:
        for record in _records(30):
            spool.append(*record)
        segments = sorted(tmp_path.glob("seg-*.log"))
        assert len(segments) > 3
        records = spool.read(1000)
        assert [r.value for r in records] == [v for _, v, _ in _records(30)]
        spool.commit(records[-1].end)
        assert len(list(tmp_path.glob("seg-*.log"))) == 1  # only the one still being written
        assert spool.pending == 0


def test_a_torn_last_record_is_skipped_not_the_whole_segment(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append_many(_records(5))
    segment = next(tmp_path.glob("seg-*.log"))
    # a crash in the middle of the next write: half a record at the end
    torn = encode_record(b"k", b"never-finished" * 10, [])
    with segment.open("ab") as handle:
        handle.write(torn[: len(torn) // 2])
    with Spool(tmp_path) as again:
        assert again.pending == 5
        assert _values(again) == [v for _, v, _ in _records(5)]
        assert again.stats().skipped_bytes == len(torn) // 2
        again.append(b"k", b"after-restart", [])  # a new segment: never behind the garbage
        assert _values(again) == [b"after-restart"]


def test_a_corrupt_record_in_the_middle_costs_only_that_record(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append_many(_records(5))
        positions = [r.position for r in spool.read(10)]
    segment = next(tmp_path.glob("seg-*.log"))
    data = bytearray(segment.read_bytes())
    data[positions[2].offset + 14] ^= 0xFF  # flip a byte in the body of record 2: CRC fails
    segment.write_bytes(bytes(data))
    with Spool(tmp_path) as again:
        values = _values(again)
    assert values == [v for i, (_, v, _) in enumerate(_records(5)) if i != 2]


def test_garbage_that_contains_the_magic_is_resynchronised_past(tmp_path: Path) -> None:
    with Spool(tmp_path) as spool:
        spool.append_many(_records(2))
    segment = next(tmp_path.glob("seg-*.log"))
    with segment.open("ab") as handle:
        handle.write(b"\x00garbage" + MAGIC + b"\xff\xff\xff\x7f" + b"junk")
    with Spool(tmp_path) as again:
        assert again.pending == 2
        assert len(again.read(10)) == 2


def test_checkpoint_survives_restart_and_a_torn_checkpoint_replays_from_the_start(
    tmp_path: Path,
) -> None:
    with Spool(tmp_path) as spool:
        spool.append_many(_records(4))
        spool.commit(spool.read(2)[-1].end)
    with Spool(tmp_path) as again:
        assert again.pending == 2
    (tmp_path / "checkpoint").write_text('{"segm')  # torn while being replaced
    with Spool(tmp_path) as again:
        assert again.pending == 4  # at-least-once: nothing is skipped


@pytest.mark.parametrize("policy", ["always", "batch", "never"])
def test_fsync_policies(tmp_path: Path, policy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real_fsync(fd))[1])
    with Spool(tmp_path, fsync=policy, batch_interval=3600) as spool:  # type: ignore[arg-type]
        calls.clear()
        for record in _records(5):
            spool.append(*record)
        after_appends = len(calls)
        spool.sync()
        after_sync = len(calls)
    if policy == "always":
        assert after_appends >= 5
    elif policy == "batch":
        # the interval is not reached: at most the directory entry of the new segment,
        # then the file once, at the explicit sync
        assert after_appends <= 1 and after_sync == after_appends + 1
    else:
        assert after_appends == 0 and after_sync == 0
    with Spool(tmp_path) as again:
        assert again.pending == 5  # written to the kernel whatever the policy


def test_one_process_per_directory(tmp_path: Path) -> None:
    with Spool(tmp_path):
        with pytest.raises(ConfigError, match="in use"):
            Spool(tmp_path)
    Spool(tmp_path).close()  # released on close


def test_an_unknown_policy_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="fsync"):
        Spool(tmp_path, fsync="sometimes")  # type: ignore[arg-type]


def test_positions_order_across_segments() -> None:
    assert Position(1, 500) < Position(2, 0) < Position(2, 1)


def test_a_failed_segment_roll_leaves_no_stale_fd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EMFILE/ENOSPC opening the next segment: later appends must not touch the closed fd."""
    import jejak.producers.spool as spool_module

    spool = Spool(tmp_path, fsync="batch", segment_bytes=100)
    spool.append(b"k", b"x" * 200)  # the segment is now over segment_bytes
    real_open = os.open
    failures = {"left": 1}

    def flaky_open(path: object, flags: int, *args: int) -> int:
        if str(path).endswith(".log") and failures["left"]:
            failures["left"] -= 1
            raise OSError(24, "Too many open files")
        return real_open(path, flags, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(spool_module.os, "open", flaky_open)
    with pytest.raises(OSError):
        spool.append(b"k", b"y")
    monkeypatch.setattr(spool_module.os, "open", real_open)
    assert spool._write_fd is None
    victim = os.open(tmp_path / "victim.txt", os.O_RDWR | os.O_CREAT)  # may reuse the number
    try:
        spool.append(b"k", b"z")
        os.fstat(victim)  # still open: the spool did not close someone else's fd
        assert spool._write_fd != victim
    finally:
        os.close(victim)
    assert [record.value for record in spool.read(10)] == [b"x" * 200, b"z"]
    spool.close()
    reopened = Spool(tmp_path, fsync="never")
    assert [record.value for record in reopened.read(10)] == [b"x" * 200, b"z"]
    reopened.close()
