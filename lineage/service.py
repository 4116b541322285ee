"""The compliance questions as one service, answered locally or through the query API.

:class:`LocalQueries` runs :mod:`jejak.lineage.store.queries` against a store
it holds; :class:`RemoteQueries` asks a running jejak process over HTTP
(:mod:`jejak.lineage.api`). Both return the same plain, JSON-ready rows
(timestamps as ISO 8601 strings), so the command line, the HTTP API and the
web page are thin adapters over the same answers.

Why two: the embedded chDB store admits one process per data folder. While a
consumer runs, it owns the store, and everyone else queries through it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta
from typing import Any, Protocol

from jejak.errors import JejakError
from jejak.lineage.policy import PolicySet
from jejak.lineage.store import queries as q
from jejak.lineage.store.client import Store
from jejak.lineage.store.queries import plain
from jejak.schemas.models import format_timestamp

Rows = list[dict[str, Any]]


class QueryError(JejakError):
    """A query the service could not answer (bad parameter, API unreachable)."""


class QueryService(Protocol):
    def stats(self) -> dict[str, Any]: ...
    def subject(self, subject_id: str) -> dict[str, Any]: ...
    def disclosures(
        self,
        *,
        recipient_id: str | None = None,
        recipient_kind: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Rows: ...
    def violations(
        self,
        *,
        reason: str | None = None,
        severity: str | None = None,
        subject_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> Rows: ...
    def alerts(self) -> Rows: ...
    def retention(self, days: int | None = None) -> Rows: ...
    def dead_letters(self, limit: int = 100) -> Rows: ...


class LocalQueries:
    """Answers from a store this process holds."""

    def __init__(self, store: Store, policies: PolicySet) -> None:
        self.store = store
        self.policies = policies

    def stats(self) -> dict[str, Any]:
        return plain(q.totals(self.store))  # type: ignore[no-any-return]

    def subject(self, subject_id: str) -> dict[str, Any]:
        return q.subject_report(self.store, subject_id).to_dict()

    def disclosures(
        self,
        *,
        recipient_id: str | None = None,
        recipient_kind: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Rows:
        return plain(  # type: ignore[no-any-return]
            q.disclosures(
                self.store,
                recipient_id=recipient_id,
                recipient_kind=recipient_kind,
                since=since,
                until=until,
            )
        )

    def violations(
        self,
        *,
        reason: str | None = None,
        severity: str | None = None,
        subject_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> Rows:
        return plain(  # type: ignore[no-any-return]
            q.violations(
                self.store,
                reason=reason,
                severity=severity,
                subject_id=subject_id,
                since=since,
                until=until,
                limit=limit,
            )
        )

    def alerts(self) -> Rows:
        return plain(q.alert_summary(self.store))  # type: ignore[no-any-return]

    def retention(self, days: int | None = None) -> Rows:
        from jejak.lineage.store.retention import retention_period

        policies = self.policies
        after: Any = (
            timedelta(days=days)
            if days is not None
            else (lambda at: retention_period(policies, at)[0])
        )
        return plain(q.retention_overdue(self.store, after_closure=after))  # type: ignore[no-any-return]

    def dead_letters(self, limit: int = 100) -> Rows:
        return plain(q.dead_letters(self.store, limit=limit))  # type: ignore[no-any-return]


class RemoteQueries:
    """Answers from a running jejak process's query API (``jejak consume`` or ``jejak serve``)."""

    def __init__(self, base_url: str, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def _get(self, path: str, **params: Any) -> Any:
        query = {
            k: format_timestamp(v) if isinstance(v, datetime) else v
            for k, v in params.items()
            if v is not None
        }
        url = f"{self.base_url}{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        if not url.startswith(("http://", "https://")):
            raise QueryError(f"the query API URL must be http(s)://…, not {self.base_url!r}")
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            try:
                detail = json.loads(detail).get("error", detail)
            except (ValueError, AttributeError):
                pass
            raise QueryError(f"query API {self.base_url}: {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise QueryError(f"cannot reach the query API at {self.base_url}: {exc}") from None

    def stats(self) -> dict[str, Any]:
        return self._get("/api/stats")  # type: ignore[no-any-return]

    def subject(self, subject_id: str) -> dict[str, Any]:
        return self._get(f"/api/subjects/{urllib.parse.quote(subject_id, safe='')}")  # type: ignore[no-any-return]

    def disclosures(
        self,
        *,
        recipient_id: str | None = None,
        recipient_kind: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Rows:
        return self._get(  # type: ignore[no-any-return]
            "/api/disclosures",
            recipient=recipient_id,
            recipient_kind=recipient_kind,
            since=since,
            until=until,
        )

    def violations(
        self,
        *,
        reason: str | None = None,
        severity: str | None = None,
        subject_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> Rows:
        return self._get(  # type: ignore[no-any-return]
            "/api/violations",
            reason=reason,
            severity=severity,
            subject=subject_id,
            since=since,
            until=until,
            limit=limit,
        )

    def alerts(self) -> Rows:
        return self._get("/api/alerts")  # type: ignore[no-any-return]

    def retention(self, days: int | None = None) -> Rows:
        return self._get("/api/retention", days=days)  # type: ignore[no-any-return]

    def dead_letters(self, limit: int = 100) -> Rows:
        return self._get("/api/dead-letters", limit=limit)  # type: ignore[no-any-return]
