"""The policy engine's rate on one core: ``python -m bench.bench_engine [--events N]``.

A realistic marketplace stream is generated here (not with ``jejak
simulate``, so the benchmark depends on nothing but the engine): many
subjects, each with some consent history, producing collections (mostly
recorded device, log and location data), uses for the declared purposes,
disclosures to payment, logistics, affiliates, partners with and without
permission, and a few law-enforcement requests; a few percent break a rule.

Events are built (and validated by pydantic) *before* the clock starts: the
figure is the engine's, not the JSON parser's. Two figures are printed:

- ``evaluate``: the pure function with each subject's state already built
  (what the hot path of the consumer costs per event);
- ``Evaluator``: the same stream through the stateful evaluator, applying
  consent, acceptance and closure events as it goes.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from jejak.lineage.policy import Evaluator, SubjectState, evaluate, load_policies
from jejak.schemas.models import Event, parse_event

START = datetime(2026, 5, 1, tzinfo=UTC)

RECORDED = [
    ["device.model", "device.os"],
    ["log.ip", "log.access_time", "log.pages"],
    ["location.ip"],
    ["activity.timestamps"],
    ["usage.preferences"],
    ["device.ad_id"],
    ["analytics.demographics"],
    ["location.geo"],
]
GIVEN = [
    ["account.email", "account.phone"],
    ["transaction.items", "transaction.amount", "transaction.shipping_address"],
    ["payment.virtual_account"],
    ["interaction.review", "interaction.rating"],
    ["support.conversation"],
    ["device_access.camera"],
]
USES: list[tuple[list[str], str, dict[str, Any]]] = [
    (["transaction.items", "transaction.amount"], "transaction.fulfilment", {}),
    (["usage.preferences"], "service.personalization", {}),
    (["log.app_activity", "log.pages"], "service.operations", {}),
    (["account.email"], "contact.transactional", {"channel": "newsletter"}),
    (["account.email"], "marketing.communications", {"channel": "newsletter"}),
    (["account.phone"], "marketing.communications", {"channel": "private_message"}),
    (["usage.preferences", "analytics.demographics"], "marketing.advertising", {}),
    (["transaction.amount"], "security.fraud_monitoring", {}),
    (["interaction.review"], "service.operations", {"public": True}),
    (["support.conversation"], "support.customer_service", {}),
]
DISCLOSURES: list[tuple[list[str], str, str, str, dict[str, Any]]] = [
    (
        ["transaction.amount", "payment.virtual_account"],
        "transaction.fulfilment",
        "payment_processor",
        "bank-x",
        {},
    ),
    (
        ["transaction.shipping_address", "account.phone"],
        "transaction.fulfilment",
        "logistics_provider",
        "kurir-1",
        {},
    ),
    (["log.ip"], "service.operations", "infrastructure_provider", "cloud-1", {}),
    (["transaction.amount"], "service.operations", "affiliate", "smarty-pay", {}),
    (["account.email"], "service.financial_products", "integrated_partner", "fin-1", {}),
    (
        ["account.email", "usage.preferences"],
        "marketing.contests",
        "promotion_partner",
        "promo-1",
        {},
    ),
    (["usage.preferences"], "marketing.advertising", "marketing_partner", "ads-1", {}),
    (["transaction.amount"], "service.financial_products", "credit_bureau", "lpip-1", {}),
    (
        ["account.phone"],
        "legal.compliance",
        "law_enforcement",
        "polri",
        {"legal_request_ref": "B-1"},
    ),
]
CONSENTS = [
    ("recipient:fin-1", "granted"),
    ("recipient:promo-1", "granted"),
    ("device:camera", "granted"),
    ("device:location", "granted"),
    ("public_review", "granted"),
    ("channel:newsletter", "withdrawn"),
    ("cookies:ad_personalization", "withdrawn"),
    ("recipient:fin-1", "withdrawn"),
]


def generate(n: int, subjects: int = 20_000, seed: int = 7) -> list[Event]:
    """``n`` events over a day, in time order, for ``subjects`` pseudonymous subjects."""
    rng = random.Random(seed)
    out: list[Event] = []
    step = 86_400_000 / n  # milliseconds
    for i in range(n):
        at = (START + timedelta(milliseconds=int(i * step))).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
        subject = f"sub-{rng.randrange(subjects):06d}"
        base = {"event_id": f"b-{i}", "occurred_at": at + "Z", "subject_id": subject}
        roll = rng.random()
        data: dict[str, Any]
        if roll < 0.34:
            if rng.random() < 0.7:
                data = {
                    "kind": "collection",
                    "data_categories": rng.choice(RECORDED),
                    "source": "recorded",
                }
            else:
                data = {
                    "kind": "collection",
                    "data_categories": rng.choice(GIVEN),
                    "source": "user",
                }
        elif roll < 0.70:
            cats, purpose, extra = rng.choice(USES)
            data = {"kind": "use", "data_categories": cats, "purpose": purpose, **extra}
        elif roll < 0.90:
            cats, purpose, kind, rid, extra = rng.choice(DISCLOSURES)
            data = {
                "kind": "disclosure",
                "data_categories": cats,
                "purpose": purpose,
                "recipient": {"id": rid, "kind": kind},
                **extra,
            }
        elif roll < 0.98:
            scope, action = rng.choice(CONSENTS)
            data = {"kind": "consent", "scope": scope, "action": action}
        elif roll < 0.99:
            data = {"kind": "policy_accepted", "policy_version": "2026.1"}
        elif roll < 0.998:
            data = {"kind": "subject_request", "request": "access"}
        else:
            data = {"kind": "account_closed"}
        out.append(parse_event({**base, **data}))
    return out


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>12,.0f} events/s  ({seconds * 1e6 / n:.2f} µs/event)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    policies = load_policies()
    print(f"generating {args.events:,} events ...")
    events = generate(args.events)
    kinds = Counter(e.kind for e in events)
    print("mix: " + ", ".join(f"{k} {v / len(events):.0%}" for k, v in kinds.most_common()))

    # states as the consumer holds them once it has seen the whole stream's consent events
    states: dict[str, SubjectState] = {}
    for e in events:
        if e.kind in ("consent", "policy_accepted", "account_closed"):
            states.setdefault(e.subject_id, SubjectState(e.subject_id)).apply(e)
    decisions = Counter(evaluate(e, states.get(e.subject_id), policies).decision for e in events)
    print(
        "verdicts: " + ", ".join(f"{k} {v / len(events):.1%}" for k, v in decisions.most_common())
    )

    gc.collect()
    best_pure = best_stream = float("inf")
    get = states.get
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        for e in events:
            evaluate(e, get(e.subject_id), policies)
        best_pure = min(best_pure, time.perf_counter() - t0)
        evaluator = Evaluator(policies)
        t0 = time.perf_counter()
        for e in events:
            evaluator.evaluate(e)
        best_stream = min(best_stream, time.perf_counter() - t0)

    print(f"machine: {_cpu()}, {os.cpu_count()} CPU(s), Python {platform.python_version()}")
    print(f"evaluate (pure, one core):  {_rate(len(events), best_pure)}")
    print(f"Evaluator (stateful):       {_rate(len(events), best_stream)}")


if __name__ == "__main__":
    main()
