"""The stateful part: per-subject consent state kept over a stream of events.

:func:`~jejak.lineage.policy.engine.evaluate` is pure; :class:`Evaluator`
feeds it. It applies every consent, policy acceptance and account closure to
the subject's :class:`SubjectState` and returns the verdict of each event.

Memory: one :class:`SubjectState` per subject that ever had a state-changing
event (subjects with only collections, uses and disclosures cost nothing),
each a few hundred bytes plus one entry per consent action. For a very large
population set ``max_subjects``: the oldest states are then dropped first and
``load_state`` (for example a query of the consent ledger in the store) is
asked for a subject's state when it is next needed, so eviction never changes
a verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from jejak.lineage.policy.compiled import Policy, PolicySet
from jejak.lineage.policy.engine import evaluate
from jejak.lineage.policy.state import STATE_KINDS, SubjectState
from jejak.lineage.policy.verdict import Verdict
from jejak.schemas.models import Event

StateLoader = Callable[[str], SubjectState | None]
"""Rebuilds a subject's state (from the store) when the evaluator does not hold it."""


class Evaluator:
    """Judge a stream of events in order, keeping each subject's consent state."""

    def __init__(
        self,
        policies: PolicySet | Policy,
        *,
        load_state: StateLoader | None = None,
        max_subjects: int | None = None,
    ) -> None:
        if max_subjects is not None and (max_subjects < 1 or load_state is None):
            raise ValueError(
                "max_subjects needs load_state, so that a dropped state can be rebuilt"
            )
        self.policies = PolicySet.of(policies)
        self._states: dict[str, SubjectState | None] = {}
        self._load_state = load_state
        self._max_subjects = max_subjects

    def evaluate(self, event: Event) -> Verdict:
        """Apply ``event`` to its subject's state if it changes it, and return its verdict."""
        if event.kind in STATE_KINDS:
            state = self._state(event.subject_id)
            if state is None:
                state = self._put(SubjectState(event.subject_id))
            state.apply(event)
            return evaluate(event, state, self.policies)
        if self._load_state is None:  # the common case: a plain dict look-up
            return evaluate(event, self._states.get(event.subject_id), self.policies)
        return evaluate(event, self._state(event.subject_id), self.policies)

    def evaluate_all(self, events: Iterable[Event]) -> Iterator[Verdict]:
        """Verdicts of ``events``, in order."""
        for event in events:
            yield self.evaluate(event)

    def state_for(self, subject_id: str) -> SubjectState | None:
        """The subject's current state, ``None`` when nothing was ever recorded about them."""
        return self._state(subject_id)

    def load(self, state: SubjectState) -> None:
        """Put a state rebuilt elsewhere (from the store) in place of what is held."""
        self._put(state)

    def load_ledger(self, subject_id: str, scope: str, action: str, at: datetime) -> None:
        """Replay one entry of a stored consent ledger (in stream order) into the subject's state.

        ``action`` is ``granted``, ``withdrawn`` or ``closed`` (an account closure).
        """
        state = self._state(subject_id)
        if state is None:
            state = self._put(SubjectState(subject_id))
        if action == "closed":
            state.close(at)
        else:
            state.record(scope, action == "granted", at)

    def forget(self, subject_id: str) -> None:
        self._states.pop(subject_id, None)

    def __len__(self) -> int:
        """Subjects held in memory."""
        return len(self._states)

    def _state(self, subject_id: str) -> SubjectState | None:
        try:
            return self._states[subject_id]
        except KeyError:
            if self._load_state is None:
                return None
        state = self._load_state(subject_id)
        self._put_slot(subject_id, state)
        return state

    def _put(self, state: SubjectState) -> SubjectState:
        if state.subject_id is None:
            raise ValueError("a state must know its subject to be held")
        self._put_slot(state.subject_id, state)
        return state

    def _put_slot(self, subject_id: str, state: SubjectState | None) -> None:
        states = self._states
        states[subject_id] = state
        if self._max_subjects is not None:
            while len(states) > self._max_subjects:
                del states[next(iter(states))]
