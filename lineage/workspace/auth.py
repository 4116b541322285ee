"""Sign-in with API tokens, and the three roles.

A token is 32 random bytes (``secrets.token_urlsafe``) behind the prefix
``jjk_``. Only its SHA-256 is kept, in a ``token_created`` journal record
with the token's name and role; a ``token_revoked`` record ends it. A plain
hash is enough for a secret with 256 bits of entropy (nobody can guess one to
match a hash; a slow password hash protects low-entropy secrets, which these
are not). Because the records are in the chained journal, nobody can add a
token, change a role or undo a revocation without ``jejak verify`` noticing.

Roles:

- ``officer``: everything, subject-level answers and triage included;
- ``analyst``: aggregates only, never a subject id;
- ``auditor``: read-only, including the access log and ``verify`` results, but no
  subject-level answers.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from jejak.errors import JejakError
from jejak.lineage.store import workspace as ws
from jejak.lineage.store.checkpoints import Checkpointer
from jejak.lineage.store.client import Store
from jejak.schemas.models import personal_identifier

Role = Literal["officer", "analyst", "auditor"]
ROLES: tuple[Role, ...] = get_args(Role)
TOKEN_PREFIX = "jjk_"
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


class WorkspaceError(JejakError):
    """A request the workspace refuses; ``status`` is its HTTP status."""

    status = 400


class BadRequest(WorkspaceError):
    status = 400


class Unauthorized(WorkspaceError):
    status = 401


class Forbidden(WorkspaceError):
    status = 403


class NotFound(WorkspaceError):
    status = 404


@dataclass(frozen=True)
class Caller:
    """Who asks: a token's name and role (``local:<user>`` for the command line on the store)."""

    name: str
    role: Role


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str) -> str:
    """Token names go into the access log: short labels, never an e-mail address or number."""
    if not _NAME.fullmatch(name) or personal_identifier(name):
        raise BadRequest(
            "a token name is 1-64 lower-case letters, digits, '.', '_' or '-' "
            "(a role or desk, such as officer-ana; no e-mail address or phone number)"
        )
    return name


@dataclass(frozen=True)
class TokenInfo:
    name: str
    role: Role
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "revoked_at": self.revoked_at,
            "active": self.revoked_at is None,
        }


def tokens(store: Store) -> dict[str, TokenInfo]:
    """Every token by name, folded from its records (the latest creation wins)."""
    found: dict[str, TokenInfo] = {}
    for r in ws.token_records(store):
        body = r["body"]
        name = body.get("name", "")
        if r["record_kind"] == ws.TOKEN_CREATED:
            found[name] = TokenInfo(
                name, body["role"], r["recorded_at"], body.get("by", ""), None, body["sha256"]
            )
        elif name in found and found[name].revoked_at is None:
            old = found[name]
            found[name] = TokenInfo(
                old.name, old.role, old.created_at, old.created_by, r["recorded_at"], old.hash
            )
    return found


def create_token(
    store: Store,
    name: str,
    role: str,
    *,
    by: str,
    at: datetime | None = None,
    checkpointer: Checkpointer | None = None,
) -> str:
    """A new token (returned once, never stored); its hash and role go into the journal."""
    check_name(name)
    if role not in ROLES:
        raise BadRequest(f"role: one of {', '.join(ROLES)}")
    existing = tokens(store).get(name)
    if existing is not None and existing.revoked_at is None:
        raise BadRequest(f"a token named {name!r} exists; revoke it first or choose another name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    body = {"name": name, "role": role, "sha256": token_hash(token), "by": by}
    ws.record(store, ws.TOKEN_CREATED, body, at=at, checkpointer=checkpointer)
    return token


def revoke_token(
    store: Store,
    name: str,
    *,
    by: str,
    at: datetime | None = None,
    checkpointer: Checkpointer | None = None,
) -> None:
    existing = tokens(store).get(name)
    if existing is None or existing.revoked_at is not None:
        raise NotFound(f"no active token named {name!r}")
    ws.record(store, ws.TOKEN_REVOKED, {"name": name, "by": by}, at=at, checkpointer=checkpointer)


def authenticate(store: Store, authorization: str | None) -> Caller:
    """The caller named by an ``Authorization: Bearer <token>`` header; :class:`Unauthorized` else."""
    if not authorization:
        raise Unauthorized("sign in: send Authorization: Bearer <token> (jejak token create)")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith(TOKEN_PREFIX):
        raise Unauthorized("the Authorization header must be 'Bearer jjk_…'")
    digest = token_hash(token)
    for info in tokens(store).values():
        if info.revoked_at is None and hmac.compare_digest(info.hash, digest):
            return Caller(info.name, info.role)
    raise Unauthorized("unknown or revoked token")
