"""A durable, append-only, on-disk queue of encoded messages: where events wait for Kafka.

Layout of a spool directory::

    seg-00000000000000000001.log   append-only segment files, written in order
    seg-00000000000000000002.log
    checkpoint                     JSON {"segment": n, "offset": o}: everything before is delivered
    .lock                          flock: one process per spool directory

Every record is framed so that a crash can be recovered from::

    magic  b"JSR1"      4 bytes   resynchronisation marker
    length uint32 LE    4 bytes   length of the body
    crc    uint32 LE    4 bytes   CRC-32 of the body
    body                length    key, headers and value (see :func:`_body`)

Why this design:

* **Append-only segments, one ``write`` per batch.** Records reach the kernel
  as soon as they are appended, so a ``kill -9`` of the service loses nothing
  that was spooled; the fsync policy decides what survives a power cut:
  ``always`` (fsync after every append), ``batch`` (fsync at most every
  ``batch_interval`` seconds and on :meth:`Spool.sync`), ``never`` (the page
  cache only).
* **A torn record is detected, not fatal.** A crash in the middle of a write
  leaves a short or corrupt last record. The reader checks magic, length and
  CRC; a bad record is skipped by scanning for the next magic whose record
  checks out, so one torn record costs that record, never the whole file.
  A process never appends to a segment it did not create, so garbage left by
  a crash is never followed by good data in the same segment.
* **A checkpoint, not deletion per record.** Replay reads records in order and
  the sender :meth:`commit` s a position once every record before it is
  delivered; fully delivered segments are then deleted. A crash between a
  delivery and its commit replays those records again (at-least-once): the
  window is one replay batch, and consumers deduplicate on ``event_id``.
* **One process per directory** (an ``flock``, released by the kernel when
  the process dies, even by ``kill -9``), so a restarted service simply
  reopens the spool and replays what the previous run left.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from jejak.errors import ConfigError

log = logging.getLogger(__name__)

FsyncPolicy = Literal["always", "batch", "never"]
Header = tuple[str, bytes]

MAGIC = b"JSR1"
_FRAME = struct.Struct("<4sII")  # magic, body length, crc32(body)
_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")
_MAX_BODY = 64 * 1024 * 1024
_SEGMENT_PREFIX, _SEGMENT_SUFFIX = "seg-", ".log"
_CHUNK = 1024 * 1024


@dataclass(frozen=True, order=True, slots=True)
class Position:
    """Where a record starts (or where one ends): a segment number and a byte offset."""

    segment: int
    offset: int


@dataclass(frozen=True, slots=True)
class SpoolRecord:
    """One spooled message as it was appended."""

    position: Position
    end: Position
    key: bytes
    value: bytes
    headers: tuple[Header, ...]


@dataclass(frozen=True, slots=True)
class SpoolStats:
    pending: int
    """Records appended and not yet committed as delivered."""
    unread: int
    """Pending records the replay has not read yet."""
    segments: int
    appended: int
    """Records appended by this process."""
    skipped_bytes: int
    """Bytes of torn or corrupt records skipped while reading (crash leftovers)."""


def _body(key: bytes, value: bytes, headers: Sequence[Header]) -> bytes:
    """``u32 key length, key, u16 header count, (u16 name length, name, u32 value length, value)*, value``."""
    parts = [_U32.pack(len(key)), key, _U16.pack(len(headers))]
    for name, hvalue in headers:
        raw_name = name.encode("utf-8")
        parts += [_U16.pack(len(raw_name)), raw_name, _U32.pack(len(hvalue)), hvalue]
    parts.append(value)
    return b"".join(parts)


def encode_record(key: bytes, value: bytes, headers: Sequence[Header]) -> bytes:
    """One framed record (frame + body), as it is written to a segment."""
    body = _body(key, value, headers)
    return _FRAME.pack(MAGIC, len(body), zlib.crc32(body)) + body


def _parse_body(body: bytes) -> tuple[bytes, tuple[Header, ...], bytes]:
    (key_len,) = _U32.unpack_from(body, 0)
    at = 4
    key = body[at : at + key_len]
    at += key_len
    (count,) = _U16.unpack_from(body, at)
    at += 2
    headers: list[Header] = []
    for _ in range(count):
        (name_len,) = _U16.unpack_from(body, at)
        at += 2
        name = body[at : at + name_len].decode("utf-8")
        at += name_len
        (value_len,) = _U32.unpack_from(body, at)
        at += 4
        headers.append((name, body[at : at + value_len]))
        at += value_len
    if at > len(body):
        raise ValueError("body shorter than its fields")
    return key, tuple(headers), body[at:]


_Parsed = tuple[bytes, tuple[Header, ...], bytes, int]


def _parse_at(data: bytes, at: int, eof: bool) -> tuple[_Parsed | None, int]:
    """The record framed at ``data[at:]``: ``(record, 0)``, ``(None, bytes needed)`` when the
    chunk ends inside it and more of the file follows, or ``(None, 0)`` when it is torn or corrupt."""
    if len(data) - at < _FRAME.size:
        return None, (0 if eof else _FRAME.size)
    magic, length, crc = _FRAME.unpack_from(data, at)
    start = at + _FRAME.size
    if magic != MAGIC or length > _MAX_BODY:
        return None, 0
    if start + length > len(data):
        return None, (0 if eof else _FRAME.size + length)
    body = data[start : start + length]
    if zlib.crc32(body) != crc:
        return None, 0
    try:
        key, headers, value = _parse_body(body)
    except (struct.error, UnicodeDecodeError, ValueError):
        return None, 0
    return (key, headers, value, start + length), 0


def _resync(data: bytes, start: int, eof: bool) -> int | None:
    """The next offset at or after ``start`` where a good record (or one that may be) begins."""
    at = data.find(MAGIC, start)
    while at != -1:
        parsed, needed = _parse_at(data, at, eof)
        if parsed is not None or needed:
            return at
        at = data.find(MAGIC, at + 1)
    return None


def _segment_name(number: int) -> str:
    return f"{_SEGMENT_PREFIX}{number:020d}{_SEGMENT_SUFFIX}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """A durable FIFO of ``(key, value, headers)`` records in a directory (see the module doc).

    Thread-safe; in the SDK one thread (the emitter's sender) appends and
    replays, while others may read :meth:`stats`. Use as a context manager or
    call :meth:`close`.
    """

    def __init__(
        self,
        directory: Path | str,
        *,
        fsync: FsyncPolicy = "batch",
        segment_bytes: int = 64 * 1024 * 1024,
        batch_interval: float = 0.2,
    ) -> None:
        if fsync not in ("always", "batch", "never"):
            raise ConfigError(f"spool fsync policy {fsync!r}: one of always, batch, never")
        self.directory = Path(directory)
        self.fsync: FsyncPolicy = fsync
        self.segment_bytes = segment_bytes
        self.batch_interval = batch_interval
        self._lock = threading.RLock()
        self._lock_fd: int | None = None
        self._write_fd: int | None = None
        self._write_segment = 0
        self._write_size = 0
        self._dirty = False
        self._last_sync = time.monotonic()
        self._committed = Position(0, 0)
        self._cursor = Position(0, 0)
        self._read_ends: deque[Position] = deque()
        self._pending = 0
        self._appended = 0
        self._skipped_bytes = 0
        self._reported: set[tuple[int, int]] = set()  # bad regions already logged
        self._read_file: tuple[int, BinaryIO] | None = None
        self._closed = False
        self._open()

    # -- opening -------------------------------------------------------------------------

    def _open(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise ConfigError(f"spool directory {self.directory}: {exc.strerror}") from exc
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(self._lock_fd)
            self._lock_fd = None
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise ConfigError(
                    f"spool directory {self.directory} is in use by another emitter or process"
                ) from exc
            raise ConfigError(f"spool directory {self.directory}: {exc.strerror}") from exc
        segments = self._segments()
        checkpoint = self._load_checkpoint()
        if checkpoint is None:
            checkpoint = Position(segments[0], 0) if segments else Position(0, 0)
        self._committed = self._normalize(checkpoint, segments)
        self._cursor = self._committed
        self._write_segment = max([*segments, self._committed.segment])
        # one scan from the checkpoint: counts what is pending and reports crash leftovers
        self._pending = self._count_from(self._committed)
        if self._pending:
            log.info(
                "spool %s: %d record(s) pending from an earlier run", self.directory, self._pending
            )

    def _segments(self) -> list[int]:
        numbers = []
        for entry in self.directory.iterdir():
            name = entry.name
            if name.startswith(_SEGMENT_PREFIX) and name.endswith(_SEGMENT_SUFFIX):
                digits = name[len(_SEGMENT_PREFIX) : -len(_SEGMENT_SUFFIX)]
                if digits.isdigit():
                    numbers.append(int(digits))
        return sorted(numbers)

    def _path(self, segment: int) -> Path:
        return self.directory / _segment_name(segment)

    def _load_checkpoint(self) -> Position | None:
        path = self.directory / "checkpoint"
        try:
            data = json.loads(path.read_text())
            return Position(int(data["segment"]), int(data["offset"]))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            # a torn checkpoint means the one before it was never replaced: replaying
            # from the oldest segment is the safe side (at-least-once)
            log.warning(
                "spool %s: unreadable checkpoint (%s); replaying from the start",
                self.directory,
                exc,
            )
            return None

    def _normalize(self, position: Position, segments: list[int] | None = None) -> Position:
        """Move a position that points at (or past) the end of a finished segment to the next one."""
        segments = self._segments() if segments is None else segments
        while True:
            later = [s for s in segments if s >= position.segment]
            if not later:
                return position
            if later[0] != position.segment:
                return Position(later[0], 0)
            if position.segment == self._write_segment and self._write_fd is not None:
                return position
            try:
                size = self._path(position.segment).stat().st_size
            except FileNotFoundError:
                segments = [s for s in segments if s != position.segment]
                continue
            following = [s for s in segments if s > position.segment]
            if position.offset >= size and following:
                position = Position(following[0], 0)
                continue
            return position

    def _count_from(self, start: Position) -> int:
        count = 0
        position = start
        while True:
            records, position, done = self._read_locked(position, 10_000)
            count += len(records)
            if done:
                return count

    # -- appending -----------------------------------------------------------------------

    def append(self, key: bytes, value: bytes, headers: Sequence[Header] = ()) -> None:
        """Append one record; it is durable per the fsync policy when this returns."""
        self.append_many(((key, value, headers),))

    def append_many(self, records: Iterable[tuple[bytes, bytes, Sequence[Header]]]) -> int:
        """Append records in order with one ``write``; returns how many."""
        frames = [encode_record(key, value, headers) for key, value, headers in records]
        if not frames:
            return 0
        data = b"".join(frames)
        with self._lock:
            self._check_open()
            fd = self._write_fd
            if fd is None or self._write_size >= self.segment_bytes:
                fd = self._roll()
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            self._write_size += len(data)
            self._pending += len(frames)
            self._appended += len(frames)
            self._dirty = True
            if self.fsync == "always":
                self._fsync_write()
            elif (
                self.fsync == "batch" and time.monotonic() - self._last_sync >= self.batch_interval
            ):
                self._fsync_write()
        return len(frames)

    def _roll(self) -> int:
        old = self._write_fd
        if old is not None:
            # forget the old fd before anything can fail: a failed fsync or open below
            # must not leave a closed fd number (maybe reused by then) to write to
            self._write_fd = None
            self._write_size = 0
            try:
                if self.fsync != "never":
                    os.fsync(old)
            finally:
                os.close(old)
        segment = self._write_segment + 1
        fd = os.open(
            self._path(segment),
            os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL,
            0o600,
        )
        self._write_segment = segment  # only once the segment exists
        self._write_fd = fd
        self._write_size = 0
        if self.fsync != "never":
            _fsync_dir(self.directory)
        return self._write_fd

    def _fsync_write(self) -> None:
        if self._write_fd is not None and self._dirty:
            os.fsync(self._write_fd)
        self._dirty = False
        self._last_sync = time.monotonic()

    def sync(self) -> None:
        """Make what was appended durable now, unless the policy is ``never``."""
        with self._lock:
            if self.fsync != "never" and not self._closed:
                self._fsync_write()

    def sync_if_due(self) -> None:
        """For the ``batch`` policy: fsync if ``batch_interval`` passed since the last one."""
        if (
            self.fsync == "batch"
            and self._dirty
            and time.monotonic() - self._last_sync >= self.batch_interval
        ):
            with self._lock:
                if not self._closed:
                    self._fsync_write()

    # -- replaying -----------------------------------------------------------------------

    def read(self, max_records: int) -> list[SpoolRecord]:
        """Up to ``max_records`` records after the read cursor, in append order."""
        with self._lock:
            self._check_open()
            records, self._cursor, _ = self._read_locked(self._cursor, max_records)
            self._read_ends.extend(r.end for r in records)
            return records

    def commit(self, upto: Position) -> None:
        """Every record that ends at or before ``upto`` is delivered: move the checkpoint.

        The checkpoint is written before any segment is deleted, so a crash in
        between leaves at worst a segment that is skipped on the next open.
        """
        with self._lock:
            self._check_open()
            committed = 0
            while self._read_ends and self._read_ends[0] <= upto:
                self._read_ends.popleft()
                committed += 1
            self._pending -= committed
            new = self._normalize(max(upto, self._committed))
            if new == self._committed:
                return
            self._committed = new
            self._write_checkpoint(new)
            for segment in self._segments():
                if segment < new.segment and not (
                    segment == self._write_segment and self._write_fd is not None
                ):
                    try:
                        self._path(segment).unlink()
                    except FileNotFoundError:
                        pass
            if self._read_file is not None and self._read_file[0] < new.segment:
                self._close_read_file()

    def rewind(self) -> None:
        """Read again from the checkpoint (after a replay batch failed)."""
        with self._lock:
            self._cursor = self._committed
            self._read_ends.clear()

    def _write_checkpoint(self, position: Position) -> None:
        path = self.directory / "checkpoint"
        tmp = self.directory / "checkpoint.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(
                fd, json.dumps({"segment": position.segment, "offset": position.offset}).encode()
            )
            if self.fsync != "never":
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        if self.fsync == "always":
            _fsync_dir(self.directory)

    def _close_read_file(self) -> None:
        if self._read_file is not None:
            self._read_file[1].close()
            self._read_file = None

    def _reader(self, segment: int) -> BinaryIO | None:
        if self._read_file is None or self._read_file[0] != segment:
            self._close_read_file()
            try:
                self._read_file = (segment, self._path(segment).open("rb"))
            except FileNotFoundError:
                return None
        return self._read_file[1]

    def _read_locked(
        self, start: Position, max_records: int
    ) -> tuple[list[SpoolRecord], Position, bool]:
        """Records from ``start``; returns them, the next position and whether the end was reached."""
        records: list[SpoolRecord] = []
        position = self._normalize(start)
        while len(records) < max_records:
            handle = self._reader(position.segment)
            if handle is None:
                return records, position, True
            position = self._read_segment(handle, position, records, max_records)
            if len(records) >= max_records:
                return records, position, False
            later = [s for s in self._segments() if s > position.segment]
            if not later:
                return records, position, True
            position = Position(later[0], 0)
        return records, position, False

    def _read_segment(
        self, handle: BinaryIO, position: Position, records: list[SpoolRecord], max_records: int
    ) -> Position:
        """Append the records of one segment from ``position`` to its end (or the limit)."""
        segment, offset = position.segment, position.offset
        want = _CHUNK
        while len(records) < max_records:
            handle.seek(offset)
            data = handle.read(want)
            if not data:
                break
            eof = len(data) < want
            want = _CHUNK
            at = 0
            while len(records) < max_records and at < len(data):
                parsed, needed = _parse_at(data, at, eof)
                if parsed is not None:
                    key, headers, value, end = parsed
                    records.append(
                        SpoolRecord(
                            Position(segment, offset + at),
                            Position(segment, offset + end),
                            key,
                            value,
                            headers,
                        )
                    )
                    at = end
                elif needed:
                    # a record that continues past this chunk: read again from its start
                    want = max(_CHUNK, needed)
                    break
                else:
                    resync = _resync(data, at + 1, eof)
                    skip_to = (
                        resync
                        if resync is not None
                        else (len(data) if eof else max(at + 1, len(data) - len(MAGIC)))
                    )
                    if (segment, offset + at) in self._reported:
                        at = skip_to
                        if resync is None and not eof:
                            break
                        continue
                    self._reported.add((segment, offset + at))
                    self._skipped_bytes += skip_to - at
                    log.warning(
                        "spool %s: skipped %d byte(s) of a torn or corrupt record "
                        "(segment %d, offset %d)",
                        self.directory,
                        skip_to - at,
                        segment,
                        offset + at,
                    )
                    at = skip_to
                    if resync is None and not eof:
                        break
            offset += at
            if eof and at >= len(data):
                break
        return Position(segment, offset)

    # -- state ---------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Records appended (by any run) and not yet committed as delivered."""
        return self._pending

    @property
    def unread(self) -> int:
        """Pending records that the replay has not read yet."""
        return self._pending - len(self._read_ends)

    def stats(self) -> SpoolStats:
        with self._lock:
            return SpoolStats(
                pending=self._pending,
                unread=self.unread,
                segments=len(self._segments()) if not self._closed else 0,
                appended=self._appended,
                skipped_bytes=self._skipped_bytes,
            )

    def _check_open(self) -> None:
        if self._closed:
            raise ConfigError(f"spool {self.directory} is closed")

    def close(self) -> None:
        """Make appended records durable (per policy) and release the directory."""
        with self._lock:
            if self._closed:
                return
            if self._write_fd is not None:
                if self.fsync != "never":
                    self._fsync_write()
                os.close(self._write_fd)
                self._write_fd = None
            self._close_read_file()
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = None
            self._closed = True

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
