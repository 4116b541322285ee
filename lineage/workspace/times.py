"""The one time parser of jejak's questions, for the command line and the API alike.

Accepted, so that a time copied from any jejak output or typed by hand works:

- ISO 8601 with ``Z`` or an offset: ``2026-05-01T10:00:00Z``, ``2026-05-01T17:00+07:00``;
- without a zone, read as UTC: ``2026-05-01T10:00``, ``2026-05-01 10:00``, ``2026-05-01``;
- a time ago: ``90s``, ``30m``, ``24h``, ``7d``, ``2w`` (also ``7d ago``), and ``now``.

Every answer is timezone-aware UTC, inside the store's years (1970-2200).
The command line (:class:`TimeParam` in ``jejak query --since``) and the API
(``since=`` / ``until=`` in :mod:`jejak.lineage.workspace.operations`) call
:func:`parse_time`, so ``--since 24h`` and ``?since=24h`` mean the same.
Messages never repeat the text given (a parameter might hold anything).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

_AGO = re.compile(r"^(\d{1,6})\s*(s|sec|m|min|h|hr|d|day|days|w|wk)(\s+ago)?$", re.IGNORECASE)
_UNITS = {
    "s": "seconds",
    "sec": "seconds",
    "m": "minutes",
    "min": "minutes",
    "h": "hours",
    "hr": "hours",
    "d": "days",
    "day": "days",
    "days": "days",
    "w": "weeks",
    "wk": "weeks",
}
HELP = (
    "ISO 8601 (2026-05-01, 2026-05-01T10:00:00Z, 2026-05-01T17:00+07:00; UTC if no zone) "
    "or a time ago (30m, 24h, 7d, 2w)"
)


class TimeError(ValueError):
    """Text that is not a time jejak understands (a ``ValueError``: pydantic reports it as 422)."""


def parse_time(value: str | datetime, now: Callable[[], datetime] | None = None) -> datetime:
    """``value`` as an aware UTC datetime; :class:`TimeError` says what is accepted."""
    if isinstance(value, datetime):
        moment = value
    else:
        text = value.strip()
        match = _AGO.match(text)
        if text.lower() == "now" or match:
            current = (now or (lambda: datetime.now(UTC)))()
            if match is None:
                return current.astimezone(UTC)
            delta = timedelta(**{_UNITS[match.group(2).lower()]: int(match.group(1))})
            moment = current - delta
        else:
            try:
                moment = datetime.fromisoformat(text.replace("z", "Z"))
            except ValueError:
                raise TimeError(f"is not a time: write {HELP}") from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if not 1970 <= moment.year <= 2200:  # the store's DateTime64 range, with room
        raise TimeError("is outside the years 1970-2200")
    return moment
