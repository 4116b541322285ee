"""The marketplace simulator: deterministic, ordered, every activity and every injected violation."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import pytest

from jejak.producers.simulate import (
    ACTIVITIES,
    RETENTION_SCENARIOS,
    SCENARIOS,
    Simulation,
    iter_simulation,
    parse_tag,
    simulate,
)
from jejak.schemas.models import event_to_json
from jejak.schemas.pseudonym import is_pseudonym


@pytest.fixture(scope="module")
def busy() -> Simulation:
    """Enough users and violations that every activity and scenario shows up."""
    return simulate(users=400, days=2, seed=7, violation_rate=0.2)


def test_same_seed_same_stream_other_seed_other_stream() -> None:
    one = [event_to_json(e) for e in simulate(users=60, days=2, seed=3).events]
    again = [event_to_json(e) for e in simulate(users=60, days=2, seed=3).events]
    other = [event_to_json(e) for e in simulate(users=60, days=2, seed=4).events]
    assert one == again
    assert one != other


def test_stream_is_ordered_and_each_subject_strictly_in_time(busy: Simulation) -> None:
    times = [e.occurred_at for e in busy.events]
    assert times == sorted(times)
    last: dict[str, object] = {}
    for event in busy.events:
        previous = last.get(event.subject_id)
        assert previous is None or previous < event.occurred_at  # type: ignore[operator]
        last[event.subject_id] = event.occurred_at


def test_subjects_are_pseudonymous_and_ids_unique(busy: Simulation) -> None:
    assert all(is_pseudonym(e.subject_id) for e in busy.events)
    assert len({e.event_id for e in busy.events}) == len(busy.events)


def test_every_activity_appears(busy: Simulation) -> None:
    seen = {
        e.trace_id.split(":")[1]
        for e in busy.events
        if e.trace_id and e.trace_id.startswith("sim:")
    }
    assert seen == set(ACTIVITIES)
    kinds = {e.kind for e in busy.events}
    assert kinds == {
        "collection",
        "use",
        "disclosure",
        "consent",
        "policy_accepted",
        "subject_request",
        "deletion",
        "account_closed",
    }


def test_every_violation_is_tagged_listed_and_each_scenario_appears(busy: Simulation) -> None:
    by_id = {e.event_id: e for e in busy.events}
    assert {v.scenario for v in busy.violations} == set(SCENARIOS) | set(RETENTION_SCENARIOS)
    tagged = {e.event_id for e in busy.events if parse_tag(e.trace_id)}
    assert tagged == {v.event_id for v in busy.violations}
    for violation in busy.violations:
        assert parse_tag(by_id[violation.event_id].trace_id) == (
            violation.reason,
            violation.scenario,
        )


def test_violation_rate_is_roughly_the_share_of_data_events() -> None:
    sim = simulate(users=300, days=1, seed=1, violation_rate=0.05)
    day = [e for e in sim.events if e.occurred_at.date() >= date(2026, 3, 1)]
    data = [e for e in day if e.kind in ("collection", "use", "disclosure")]
    injected = [e for e in data if parse_tag(e.trace_id)]
    assert 0.02 < len(injected) / len(data) < 0.08
    assert not [v for v in simulate(users=100, days=1, seed=1, violation_rate=0.0).violations]


def test_the_policy_engine_finds_exactly_the_injected_violations(busy: Simulation) -> None:
    """Tagged events get their tagged reason as the primary one; everything else is allowed."""
    from jejak.lineage.policy import Evaluator, load_policies

    evaluator = Evaluator(load_policies())
    wrong: dict[str, list[str]] = defaultdict(list)
    for event, verdict in zip(busy.events, evaluator.evaluate_all(busy.events), strict=True):
        tag = parse_tag(event.trace_id)
        if tag is not None and tag[0] != "retention_overdue":
            if verdict.decision != "violation" or verdict.reasons[0] != tag[0]:
                wrong["missed"].append(f"{tag}: {verdict.decision} {verdict.reasons}")
        elif verdict.decision == "violation":
            wrong["unexpected"].append(f"{event.trace_id}: {verdict.reasons}")
    assert not wrong


def test_streaming_matches_the_in_memory_form() -> None:
    streamed = list(iter_simulation(users=50, days=3, seed=11))
    assert streamed == simulate(users=50, days=3, seed=11).events


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="users"):
        simulate(users=0)
    with pytest.raises(ValueError, match="violation_rate"):
        simulate(users=5, violation_rate=1.5)
