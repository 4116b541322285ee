"""What the engine must know about a data subject: consent as of any time.

Consent is judged *as of* each event's ``occurred_at``, and events can arrive
out of time order (a late consent withdrawal, a replay from the store), so a
subject keeps a small time-ordered ledger per consent scope rather than only
the latest value. A ledger answers "what was the last action at or before
``t``?"; equal times are resolved by stream order (the later one wins), which
is why entries are inserted *after* any entry with the same time.

The state is independent of the policy: defaults (opt-in / opt-out) and
implications (``cookies:all`` covering both cookie scopes) are the policy's
business, applied by :meth:`jejak.lineage.policy.compiled.Policy.granted`.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from datetime import datetime
from typing import Final

from jejak.schemas.models import Event

STATE_KINDS: Final = frozenset({"consent", "policy_accepted", "account_closed"})
"""Event kinds that change a subject's state (the others only get a verdict)."""

ACCEPTANCE_PREFIX: Final = "policy:"
"""A ``policy_accepted`` event counts as the consent scope ``policy:<version>`` granted (G)."""


class ScopeLedger:
    """The grants and withdrawals of one scope, in time order (stream order within a time)."""

    __slots__ = ("times", "values")

    def __init__(self) -> None:
        self.times: list[datetime] = []
        self.values: list[bool] = []

    def record(self, at: datetime, granted: bool) -> None:
        times = self.times
        if not times or at >= times[-1]:
            times.append(at)
            self.values.append(granted)
            return
        i = bisect_right(times, at)
        times.insert(i, at)
        self.values.insert(i, granted)

    def value_at(self, at: datetime) -> bool | None:
        """The last action at or before ``at``: granted (True), withdrawn (False), or none."""
        times = self.times
        if at >= times[-1]:  # the common case: consent given before everything that follows
            return self.values[-1]
        i = bisect_right(times, at)
        return self.values[i - 1] if i else None

    def __len__(self) -> int:
        return len(self.times)


class SubjectState:
    """One subject's consent ledgers and account closure, replayable from their events.

    Build it with :meth:`from_events` from the subject's consent-relevant
    events in stream order (the consumer does this from the store after a
    restart), or feed it one event at a time with :meth:`apply`.
    """

    __slots__ = ("closed_at", "ledgers", "subject_id")

    def __init__(self, subject_id: str | None = None) -> None:
        self.subject_id = subject_id
        """Whose state this is; taken from the first event applied when not given."""
        self.ledgers: dict[str, ScopeLedger] = {}
        """Scope -> its ledger; read it freely, change it only through :meth:`record`."""
        self.closed_at: datetime | None = None
        """The earliest account closure seen (there is no reopening event)."""

    @classmethod
    def from_events(cls, events: Iterable[Event], subject_id: str | None = None) -> SubjectState:
        """The state after ``events`` (one subject's, in stream order); other kinds are ignored."""
        state = cls(subject_id)
        for event in events:
            state.apply(event)
        return state

    def apply(self, event: Event) -> bool:
        """Take a consent, policy acceptance or account closure into account.

        Returns whether the event changed the state; other kinds are ignored.
        An event of another subject is a programming error (``ValueError``).
        """
        if event.kind not in STATE_KINDS:
            return False
        if self.subject_id is None:
            self.subject_id = event.subject_id
        elif event.subject_id != self.subject_id:
            raise ValueError(
                f"event {event.event_id} is about subject {event.subject_id!r}, "
                f"not {self.subject_id!r}"
            )
        if event.kind == "consent":
            self.record(event.scope, event.action == "granted", event.occurred_at)
        elif event.kind == "policy_accepted":
            self.record(ACCEPTANCE_PREFIX + event.policy_version, True, event.occurred_at)
        else:
            self.close(event.occurred_at)
        return True

    def record(self, scope: str, granted: bool, at: datetime) -> None:
        """One grant (``granted=True``) or withdrawal of ``scope`` at ``at``."""
        ledger = self.ledgers.get(scope)
        if ledger is None:
            ledger = self.ledgers[scope] = ScopeLedger()
        ledger.record(at, granted)

    def close(self, at: datetime) -> None:
        """The account was closed at ``at``; the earliest closure counts."""
        if self.closed_at is None or at < self.closed_at:
            self.closed_at = at

    def value(self, scope: str, at: datetime) -> bool | None:
        """The subject's own last action on ``scope`` at or before ``at`` (no policy defaults)."""
        ledger = self.ledgers.get(scope)
        return None if ledger is None else ledger.value_at(at)

    def ledger(self, scope: str) -> ScopeLedger | None:
        return self.ledgers.get(scope)

    def closed(self, at: datetime) -> bool:
        """Whether the account was closed at or before ``at``."""
        return self.closed_at is not None and self.closed_at <= at

    @property
    def scopes(self) -> list[str]:
        """The scopes this subject ever granted or withdrew."""
        return sorted(self.ledgers)

    def history(self, scope: str) -> list[tuple[datetime, bool]]:
        """``(time, granted)`` for each action on ``scope``, in time order."""
        ledger = self.ledgers.get(scope)
        return [] if ledger is None else list(zip(ledger.times, ledger.values, strict=True))

    def __repr__(self) -> str:
        return (
            f"SubjectState({self.subject_id!r}, scopes={self.scopes!r}, "
            f"closed_at={self.closed_at!r})"
        )
