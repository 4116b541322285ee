"""Shorthands for policy tests: events in one line, the shipped policy as data, a later version."""

from __future__ import annotations

import copy
import itertools
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

import jejak.lineage
from jejak.schemas.models import Event, parse_event

DATA = Path(__file__).parent / "data"
SHIPPED_FOLDER = Path(jejak.lineage.__file__).parent / "policies" / "smarty-indonesia"
SHIPPED_FILE = SHIPPED_FOLDER / "2026-01-01.yaml"

T = "2026-05-01T10:00:00Z"
"""When the event under test happens."""
BEFORE = "2026-05-01T09:00:00Z"
"""When the consent events that precede it happen."""

_ids = itertools.count(1)


def ev(kind: str, at: str = T, subject: str = "s-1", **fields: Any) -> Event:
    data = {
        "event_id": fields.pop("event_id", f"e-{next(_ids)}"),
        "kind": kind,
        "occurred_at": at,
        "subject_id": subject,
        **fields,
    }
    return parse_event(data)


def col(categories: list[str], source: str = "user", **fields: Any) -> Event:
    return ev("collection", data_categories=categories, source=source, **fields)


def use(categories: list[str], purpose: str, **fields: Any) -> Event:
    return ev("use", data_categories=categories, purpose=purpose, **fields)


def dis(
    categories: list[str], purpose: str, kind: str, recipient: str = "r-1", **fields: Any
) -> Event:
    return ev(
        "disclosure",
        data_categories=categories,
        purpose=purpose,
        recipient={"id": recipient, "kind": kind},
        **fields,
    )


def consent(scope: str, action: str = "granted", at: str = BEFORE, **fields: Any) -> Event:
    return ev("consent", at=at, scope=scope, action=action, **fields)


def withdraw(scope: str, at: str = BEFORE, **fields: Any) -> Event:
    return consent(scope, "withdrawn", at=at, **fields)


def closed(at: str = BEFORE, **fields: Any) -> Event:
    return ev("account_closed", at=at, **fields)


def shipped_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SHIPPED_FILE.read_text(encoding="utf-8"))
    return data


def write_policy(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


V2_FROM = "2026-07-01T00:00:00+07:00"


def second_version() -> dict[str, Any]:
    """A synthetic version 2026.2 from 1 July 2026, built from the shipped one.

    It adds a purpose (``service.credit_scoring``), a category
    (``identity.ktp``), a recipient kind (``fintech_lender``) with its own
    exception C.9; makes the newsletter opt-in; makes affiliates (C.6) need
    the subject's permission; and shortens retention to 14 days.
    """
    data = copy.deepcopy(shipped_data())
    data["version"] = "2026.2"
    data["effective_from"] = datetime.fromisoformat(V2_FROM)
    data["clauses"]["A.1.8"] = {"text": "Data identitas (KTP).", "gloss": "Identity card data."}
    data["clauses"]["C.9"] = {
        "text": "Smarty Indonesia dapat membagikan data kepada pemberi pinjaman daring.",
        "gloss": "Online lenders, for credit scoring.",
    }
    data["categories"].append({"names": ["identity.ktp"], "clause": "A.1.8", "sources": ["user"]})
    data["purposes"].append({"name": "service.credit_scoring", "clause": "B.2.1"})
    data["recipient_kinds"].append({"name": "fintech_lender", "clause": "C.9"})
    data["disclosure_exceptions"].append(
        {
            "clause": "C.9",
            "recipient_kinds": ["fintech_lender"],
            "purposes": ["service.credit_scoring"],
        }
    )
    for exc in data["disclosure_exceptions"]:
        if exc["clause"] == "C.6":
            exc["requires_consent"] = [{"scope": "recipient:{recipient}"}]
    for scope in data["consent_scopes"]:
        if scope["scope"] == "channel:newsletter":
            scope["default"] = "opt-in"
    data["retention"]["after_account_closure"] = 14
    return data
