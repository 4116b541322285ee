"""Consent as of a time: ledgers, out-of-order events, ties, replay from events, the Evaluator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from policy_helpers import closed, col, consent, ev, use, withdraw

from jejak.lineage.policy import Evaluator, PolicySet, SubjectState

T0 = datetime(2026, 5, 1, 9, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def iso(minutes: int) -> str:
    return at(minutes).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_last_action_at_or_before_wins() -> None:
    state = SubjectState("s-1")
    state.record("channel:newsletter", False, at(10))
    state.record("channel:newsletter", True, at(20))
    assert state.value("channel:newsletter", at(5)) is None
    assert state.value("channel:newsletter", at(10)) is False  # at or before: inclusive
    assert state.value("channel:newsletter", at(15)) is False
    assert state.value("channel:newsletter", at(20)) is True
    assert state.value("channel:other", at(20)) is None


def test_out_of_order_arrival_is_put_in_time_order() -> None:
    state = SubjectState("s-1")
    state.record("public_review", True, at(30))
    state.record("public_review", False, at(10))  # arrives late, happened earlier
    assert state.history("public_review") == [(at(10), False), (at(30), True)]
    assert state.value("public_review", at(20)) is False
    assert state.value("public_review", at(40)) is True


def test_ties_go_to_the_later_in_the_stream() -> None:
    state = SubjectState("s-1")
    state.record("device:camera", True, at(10))
    state.record("device:camera", False, at(10))
    assert state.value("device:camera", at(10)) is False
    state.record("device:camera", True, at(30))
    state.record("device:camera", False, at(10))  # late, and tied with two earlier ones
    assert state.value("device:camera", at(10)) is False
    state.record("device:camera", True, at(10))
    assert state.value("device:camera", at(20)) is True


@settings(max_examples=60, deadline=None)
@given(
    actions=st.lists(
        st.tuples(st.integers(0, 1000), st.booleans()),
        min_size=1,
        max_size=12,
        unique_by=lambda a: a[0],
    ),
    order=st.randoms(use_true_random=False),
    probe=st.integers(-10, 1010),
)
def test_arrival_order_does_not_matter_for_distinct_times(
    actions: list[tuple[int, bool]], order: object, probe: int
) -> None:
    in_time = SubjectState("s")
    for minute, granted in sorted(actions):
        in_time.record("x:y", granted, at(minute))
    shuffled = list(actions)
    order.shuffle(shuffled)  # type: ignore[attr-defined]
    any_order = SubjectState("s")
    for minute, granted in shuffled:
        any_order.record("x:y", granted, at(minute))
    assert any_order.value("x:y", at(probe)) == in_time.value("x:y", at(probe))


def test_from_events_replays_consent_acceptance_and_closure() -> None:
    events = [
        consent("recipient:fin-1", at=iso(0)),
        ev("policy_accepted", at=iso(1), policy_version="2026.1"),
        col(["account.email"]),  # changes nothing
        withdraw("recipient:fin-1", at=iso(5)),
        closed(at=iso(9)),
        closed(at=iso(7)),  # the earliest closure counts
    ]
    state = SubjectState.from_events(events)
    assert state.subject_id == "s-1"
    assert state.scopes == ["policy:2026.1", "recipient:fin-1"]
    assert state.value("recipient:fin-1", at(3)) is True
    assert state.value("recipient:fin-1", at(6)) is False
    assert state.value("policy:2026.1", at(2)) is True
    assert state.closed_at == at(7)
    assert not state.closed(at(6)) and state.closed(at(7))


def test_apply_refuses_another_subject() -> None:
    with pytest.raises(ValueError, match="s-2"):
        SubjectState("s-1").apply(consent("public_review", subject="s-2"))


def test_cookies_all_covers_both_cookie_scopes(policies: PolicySet) -> None:
    policy = policies.latest
    state = SubjectState("s-1")
    state.record("cookies:ad_personalization", True, at(0))
    state.record("cookies:all", False, at(10))
    assert policy.granted(state, "cookies:ad_personalization", at(5))
    assert not policy.granted(state, "cookies:ad_personalization", at(15))
    assert not policy.granted(state, "cookies:analytics_demographics", at(15))
    assert policy.granted(None, "cookies:analytics_demographics", at(15))  # opt-out default


def test_defaults_opt_in_opt_out_and_undeclared(policies: PolicySet) -> None:
    policy = policies.latest
    assert policy.granted(None, "channel:newsletter", T0)
    assert policy.granted(None, "processing:all", T0)
    assert not policy.granted(None, "device:camera", T0)
    assert not policy.granted(None, "recipient:anyone", T0)
    assert not policy.granted(None, "policy:2026.1", T0)
    assert not policy.granted(None, "telepathy:on", T0)  # undeclared: nothing assumed


def test_evaluator_keeps_state_only_for_subjects_that_need_it(policies: PolicySet) -> None:
    evaluator = Evaluator(policies)
    evaluator.evaluate(use(["account.email"], "service.operations", subject="quiet"))
    assert evaluator.state_for("quiet") is None
    assert len(evaluator) == 0
    evaluator.evaluate(withdraw("channel:newsletter", subject="loud"))
    state = evaluator.state_for("loud")
    assert state is not None and state.scopes == ["channel:newsletter"]


def test_evaluator_sees_late_consent_for_later_events(policies: PolicySet) -> None:
    evaluator = Evaluator(policies)
    message = "2026-05-01T12:00:00Z"
    first = evaluator.evaluate(
        use(["account.email"], "marketing.communications", channel="newsletter")
    )
    assert first.decision == "allowed"
    # a withdrawal that happened at 09:00 arrives late; events after it now see it
    evaluator.evaluate(withdraw("channel:newsletter", at="2026-05-01T09:00:00Z"))
    later = evaluator.evaluate(
        ev(
            "use",
            at=message,
            data_categories=["account.email"],
            purpose="marketing.communications",
            channel="newsletter",
        )
    )
    assert later.reasons == ("opted_out",)


def test_evaluator_rebuilds_dropped_states_from_the_loader(policies: PolicySet) -> None:
    store = {"a": [withdraw("processing:all", subject="a")], "b": [], "c": []}
    loads: list[str] = []

    def load(subject: str) -> SubjectState | None:
        loads.append(subject)
        return SubjectState.from_events(store[subject], subject) if store[subject] else None

    evaluator = Evaluator(policies, load_state=load, max_subjects=2)
    probe = use(["account.email"], "service.operations", subject="a")
    assert evaluator.evaluate(probe).reasons == ("consent_withdrawn",)
    evaluator.evaluate(use(["account.email"], "service.operations", subject="b"))
    evaluator.evaluate(use(["account.email"], "service.operations", subject="c"))
    assert len(evaluator) == 2  # "a" was dropped
    assert evaluator.evaluate(probe).reasons == ("consent_withdrawn",)  # and rebuilt
    assert loads == ["a", "b", "c", "a"]


def test_max_subjects_needs_a_loader(policies: PolicySet) -> None:
    with pytest.raises(ValueError, match="load_state"):
        Evaluator(policies, max_subjects=10)
