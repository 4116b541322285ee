"""The query API and web page: the compliance questions over HTTP.

Read-only JSON endpoints over :class:`~jejak.lineage.service.LocalQueries`, and
one page (``/``) for compliance staff. ``jejak consume --serve`` runs it inside
the consumer (with the embedded chDB store, the only process that may open the
data folder); ``jejak serve`` runs it alone.

It listens on 127.0.0.1 by default and has no authentication of its own: put
it behind the company's authenticating proxy before exposing it. Answers carry
pseudonymous subject ids only.

| endpoint | answer |
|---|---|
| ``GET /healthz`` | ``{"status": "ok"}`` |
| ``GET /api/stats`` | events, subjects, decisions, kinds, dead letters |
| ``GET /api/alerts`` | alerts by severity and reason |
| ``GET /api/violations?reason=&severity=&subject=&since=&until=&limit=`` | alerts, most severe first |
| ``GET /api/disclosures?recipient=&recipient_kind=&since=&until=`` | who received what, on which basis |
| ``GET /api/subjects/<id>`` | a data-subject access report |
| ``GET /api/retention?days=`` | closed accounts whose data was not deleted in time |
| ``GET /api/dead-letters?limit=`` | messages that could not be decoded |
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.parse
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from jejak.errors import JejakError
from jejak.lineage.service import QueryService

log = logging.getLogger(__name__)

SEVERITIES = ("critical", "high", "medium", "low")


class BadRequest(JejakError):
    """A query parameter the API cannot use."""


def _time(params: dict[str, str], name: str) -> datetime | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"{name}: {raw!r} is not an ISO 8601 time such as 2026-05-01T00:00:00Z"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _int(params: dict[str, str], name: str, default: int | None, low: int, high: int) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name}: {raw!r} is not a whole number") from None
    if not low <= value <= high:
        raise BadRequest(f"{name}: {value} is outside {low}..{high}")
    return value


def answer(service: QueryService, path: str, params: dict[str, str]) -> Any:
    """The JSON answer for one GET; :class:`BadRequest` or ``None`` (not found) otherwise."""
    if path == "/healthz":
        return {"status": "ok"}
    if path == "/api/stats":
        return service.stats()
    if path == "/api/alerts":
        return service.alerts()
    if path == "/api/violations":
        severity = params.get("severity") or None
        if severity is not None and severity not in SEVERITIES:
            raise BadRequest(f"severity: one of {', '.join(SEVERITIES)}")
        return service.violations(
            reason=params.get("reason") or None,
            severity=severity,
            subject_id=params.get("subject") or None,
            since=_time(params, "since"),
            until=_time(params, "until"),
            limit=_int(params, "limit", 100, 1, 100_000) or 100,
        )
    if path == "/api/disclosures":
        return service.disclosures(
            recipient_id=params.get("recipient") or None,
            recipient_kind=params.get("recipient_kind") or None,
            since=_time(params, "since"),
            until=_time(params, "until"),
        )
    if path.startswith("/api/subjects/"):
        raw = path.removeprefix("/api/subjects/")  # still percent-encoded
        if not raw or "/" in raw:
            raise BadRequest("subject: give one pseudonymous subject id")
        return service.subject(urllib.parse.unquote(raw))
    if path == "/api/retention":
        return service.retention(_int(params, "days", None, 0, 36_500))
    if path == "/api/dead-letters":
        return service.dead_letters(_int(params, "limit", 100, 1, 100_000) or 100)
    return None


def _page() -> bytes:
    return resources.files("jejak.lineage").joinpath("web/index.html").read_bytes()


class _Handler(BaseHTTPRequestHandler):
    server: QueryServer

    def do_GET(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        params = dict(urllib.parse.parse_qsl(parts.query))
        if parts.path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, _page(), "text/html; charset=utf-8")
            return
        try:
            body = answer(self.server.service, parts.path, params)
        except BadRequest as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        except JejakError as exc:
            log.warning("query %s failed: %s", parts.path, exc)
            self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": str(exc)})
            return
        if body is None:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: {parts.path}"})
            return
        self._json(HTTPStatus.OK, body)

    def _json(self, status: HTTPStatus, body: Any) -> None:
        self._send(status, json.dumps(body, ensure_ascii=False).encode(), "application/json")

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("api: %s", format % args)


class QueryServer(ThreadingHTTPServer):
    """The API server; :meth:`start` runs it on a daemon thread, :meth:`stop` ends it."""

    daemon_threads = True

    def __init__(self, service: QueryService, host: str = "127.0.0.1", port: int = 8765) -> None:
        super().__init__((host, port), _Handler)
        self.service = service
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> QueryServer:
        self._thread = threading.Thread(target=self.serve_forever, name="jejak-api", daemon=True)
        self._thread.start()
        log.info("query API on %s", self.url)
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(5)
