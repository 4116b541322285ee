"""The workspace API and web page: routes only, built from the declared operations.

Every route comes from :data:`~jejak.lineage.workspace.operations.OPERATIONS`
(path, method, parameters, roles): this module signs the caller in, turns the
request into the operation's parameters and returns what
:meth:`~jejak.lineage.workspace.operations.Workspace.call` answers. The OpenAPI
document (``/openapi.json``, with a docs page at ``/docs``) is generated from
the same declarations.

Errors are JSON everywhere (``{"error": "..."}``; 400, 401, 403, 404, 405,
413, 422, 503), never a stack trace, and never an input value (it may be
personal). ``/healthz`` and the page ``/`` are open; everything under ``/api``
needs ``Authorization: Bearer <token>``.

Hardening (:class:`Guard`, and the uvicorn settings in :class:`ApiServer`):

- a Host header allow-list against DNS rebinding (the bound host, 127.0.0.1,
  localhost, ::1, and ``JEJAK_API__ALLOWED_HOSTS``): 400 otherwise;
- request bodies over ``JEJAK_API__MAX_BODY_BYTES``: 413;
- a request running longer than ``JEJAK_API__REQUEST_TIMEOUT_S``: 503;
- idle keep-alive connections closed after ``JEJAK_API__KEEPALIVE_TIMEOUT_S``
  (asyncio, so an idle connection holds no thread), at most
  ``JEJAK_API__MAX_CONNECTIONS`` at once (more get 503);
- unknown query parameters: 422;
- no ``Server`` header; ``nosniff``, ``no-store`` and a strict
  Content-Security-Policy on the page;
- TLS with ``JEJAK_API__TLS_CERTFILE``/``TLS_KEYFILE`` (or a proxy in front;
  docs/workspace.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute

from jejak.errors import JejakError
from jejak.lineage.workspace.auth import BadRequest, WorkspaceError
from jejak.lineage.workspace.operations import (
    OPERATIONS,
    Document,
    Operation,
    Workspace,
    validation_message,
)
from jejak.settings import ApiSettings

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
_PAGE_CSP = (
    b"default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    b"connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
    b"frame-ancestors 'none'"
)


def error_body(status: int, message: str) -> bytes:
    return json.dumps({"error": message, "status": status}, ensure_ascii=False).encode()


async def _send_error(send: Send, status: int, message: str) -> None:
    body = error_body(status, message)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    pass


class Guard:
    """Host allow-list, body size limit, request timeout and security headers, in front of the app."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: Iterable[str],
        max_body_bytes: int,
        request_timeout_s: float,
    ) -> None:
        self.app = app
        self.allowed = {h.lower().strip("[]") for h in allowed_hosts}
        self.max_body = max_body_bytes
        self.timeout = request_timeout_s

    def _host_ok(self, scope: Scope) -> bool:
        host = ""
        for name, value in scope.get("headers", ()):
            if name == b"host":
                host = value.decode("latin-1").lower()
                break
        if host.startswith("["):  # [::1]:8765
            host = host[1 : host.find("]")] if "]" in host else host
        elif host.count(":") == 1:
            host = host.split(":", 1)[0]
        return bool(host) and host in self.allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self._host_ok(scope):
            await _send_error(send, 400, "this Host is not served here (JEJAK_API__ALLOWED_HOSTS)")
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_large = int(value) > self.max_body
                except ValueError:
                    too_large = True
                if too_large:
                    await _send_error(
                        send, 413, f"request bodies are at most {self.max_body} bytes"
                    )
                    return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"server"]
                headers += _HEADERS
                if scope.get("path") in ("/", "/index.html"):
                    headers.append((b"content-security-policy", _PAGE_CSP))
                message["headers"] = headers
            await send(message)

        try:
            await asyncio.wait_for(self.app(scope, limited_receive, guarded_send), self.timeout)
        except BodyTooLarge:
            if not started:
                await _send_error(send, 413, f"request bodies are at most {self.max_body} bytes")
        except TimeoutError:
            log.warning("request %s %s timed out", scope.get("method"), scope.get("path"))
            if not started:
                await _send_error(send, 503, "the request took too long")


def _page() -> bytes:
    return resources.files("jejak.lineage").joinpath("web/index.html").read_bytes()


def _parameters(op: Operation) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """OpenAPI parameters (path and query) and request body of an operation, from its model."""
    schema = op.params.model_json_schema()
    defs = schema.get("$defs", {})
    required = set(schema.get("required", ()))
    params: list[dict[str, Any]] = []
    body_props: dict[str, Any] = {}
    body_required: list[str] = []
    for name, prop in schema.get("properties", {}).items():
        prop = _inline(prop, defs)
        if name in op.path_params:
            params.append({"name": name, "in": "path", "required": True, "schema": _not_null(prop)})
        elif op.method == "GET":
            params.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in required,
                    "schema": _not_null(prop),
                    **({"description": prop["description"]} if "description" in prop else {}),
                }
            )
        else:
            body_props[name] = prop
            if name in required:
                body_required.append(name)
    body = None
    if op.method == "POST":
        body = {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": body_props,
                        "required": body_required,
                        "additionalProperties": False,
                    }
                }
            },
        }
    return params, body


def _inline(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = prop.get("$ref")
    if ref:
        return dict(defs[ref.rsplit("/", 1)[1]])
    return prop


def _not_null(prop: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent rather than null: drop the null branch of an optional."""
    options = prop.get("anyOf")
    if not options:
        return {k: v for k, v in prop.items() if k not in ("default", "title")}
    kept = [o for o in options if o.get("type") != "null"]
    out = dict(kept[0]) if len(kept) == 1 else {"anyOf": kept}
    if "description" in prop:
        out["description"] = prop["description"]
    return out


_ERRORS = {
    str(code): {
        "description": text,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}, "status": {"type": "integer"}},
                }
            }
        },
    }
    for code, text in (
        (400, "bad request"),
        (401, "no or unknown token"),
        (403, "the token's role may not do this"),
        (404, "not found"),
        (422, "invalid parameters"),
    )
}


def create_app(
    workspace: Workspace,
    *,
    settings: ApiSettings | None = None,
    bound_host: str | None = None,
    routes: Sequence[BaseRoute] = (),
) -> ASGIApp:
    """The ASGI app: the FastAPI routes behind :class:`Guard`.

    ``routes`` are served as well, open like ``/healthz`` (the consumer's
    ``/metrics`` and ``/readyz``, :mod:`jejak.consumers.ops`).
    """
    settings = settings or ApiSettings()
    app = FastAPI(
        title="jejak compliance workspace",
        version="1",
        description=(
            "Lineage, alerts, triage and data-subject requests. Send "
            "`Authorization: Bearer <token>` (jejak token create). Roles: officer, analyst, "
            "auditor."
        ),
        docs_url="/docs",
        redoc_url=None,
    )

    def _json(status: int, message: str) -> Response:
        return Response(error_body(status, message), status, media_type="application/json")

    async def http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = {404: "no such endpoint", 405: "method not allowed here"}.get(
            exc.status_code, str(exc.detail)
        )
        return _json(exc.status_code, message)

    async def validation_error(_: Request, exc: Exception) -> Response:
        errors: list[dict[str, Any]] = list(getattr(exc, "errors", list)())
        parts = [
            ".".join(str(p) for p in e.get("loc", ())) + ": " + e.get("msg", "") for e in errors
        ]
        return _json(422, "; ".join(parts) or "invalid request")

    async def workspace_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, WorkspaceError)
        return _json(exc.status, str(exc))

    async def jejak_error(request: Request, exc: Exception) -> Response:
        log.warning("%s %s failed: %s", request.method, request.url.path, exc)
        return _json(503, "the store could not answer; see the server's log")

    async def internal_error(request: Request, exc: Exception) -> Response:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return _json(500, "internal error; see the server's log")

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(WorkspaceError, workspace_error)
    app.add_exception_handler(JejakError, jejak_error)
    app.add_exception_handler(Exception, internal_error)

    @app.get("/healthz", include_in_schema=True, summary="Liveness (open).")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(_page())

    app.router.routes.extend(routes)
    for op in OPERATIONS:
        _add_route(app, workspace, op)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        doc = generate()  # generated once, then cached by FastAPI
        doc.setdefault("components", {})["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"}
        }
        return doc

    app.openapi = openapi  # type: ignore[method-assign]

    hosts = {"127.0.0.1", "localhost", "::1", *settings.allowed_hosts}
    if bound_host and bound_host not in ("0.0.0.0", "::"):
        hosts.add(bound_host)
    return Guard(
        app,
        allowed_hosts=hosts,
        max_body_bytes=settings.max_body_bytes,
        request_timeout_s=settings.request_timeout_s,
    )


def _add_route(app: FastAPI, workspace: Workspace, op: Operation) -> None:
    params, body = _parameters(op)
    path = op.path.replace("{subject_id}", "{subject_id:path}")

    async def endpoint(request: Request) -> Any:
        values: dict[str, Any] = dict(request.path_params)
        if op.method == "GET":
            for key in request.query_params:
                got = request.query_params.getlist(key)
                if len(got) > 1:
                    raise BadRequest(f"{key}: given more than once")
                values[key] = got[0]
        else:
            raw = await request.body()
            try:
                data = json.loads(raw or b"{}")
            except ValueError:
                raise BadRequest("the body must be a JSON object") from None
            if not isinstance(data, dict):
                raise BadRequest("the body must be a JSON object")
            clash = set(data) & set(op.path_params)
            if clash:
                raise BadRequest(f"{', '.join(sorted(clash))}: give it in the path only")
            values.update(data)
        authorization = request.headers.get("authorization")
        answer = await run_in_threadpool(_answer, workspace, op, authorization, values)
        if isinstance(answer, Document):  # a letter: a file of its own, no script allowed
            return Response(
                answer.content,
                media_type=answer.media_type,
                headers={
                    "content-disposition": f'inline; filename="{answer.filename}"',
                    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
                },
            )
        return JSONResponse(answer)

    endpoint.__name__ = op.name
    app.add_api_route(
        path,
        endpoint,
        methods=[op.method],
        name=op.name,
        summary=op.summary,
        description=f"Roles: {', '.join(op.roles)}."
        + (
            " A subject-level read: needs reason=, recorded in the access log."
            if op.subject
            else ""
        ),
        responses={code: r for code, r in _ERRORS.items()},
        openapi_extra={
            "parameters": params,
            **({"requestBody": body} if body else {}),
            "security": [{"bearer": []}],
        },
    )


def _answer(
    workspace: Workspace, op: Operation, authorization: str | None, values: dict[str, Any]
) -> Any:
    """Sign in, then run the operation (in a worker thread: the store blocks)."""
    caller = workspace.authenticate(authorization)
    try:
        params = op.params.model_validate(values)
    except ValidationError as exc:
        raise Invalid(validation_message(exc)) from None
    return workspace.call(op.name, caller, params)


class Invalid(WorkspaceError):
    """Parameters that do not fit the operation (422)."""

    status = 422


class ApiServer:
    """uvicorn serving the workspace on a thread: :meth:`start`, :meth:`stop`, :attr:`url`.

    The socket is bound in :meth:`start`, so a port in use is an ``OSError``
    at once (the consumer goes on without its API), and port 0 picks a free one.
    """

    def __init__(
        self,
        workspace: Workspace,
        host: str = "127.0.0.1",
        port: int = 8765,
        settings: ApiSettings | None = None,
        routes: Sequence[BaseRoute] = (),
    ) -> None:
        self.workspace = workspace
        self.routes = routes
        self.settings = settings or ApiSettings()
        self.host = host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
        except OSError:
            self._socket.close()
            raise
        self.port = int(self._socket.getsockname()[1])
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def tls(self) -> bool:
        return self.settings.tls_certfile is not None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def start(self) -> ApiServer:
        import uvicorn

        s = self.settings
        app = create_app(self.workspace, settings=s, bound_host=self.host, routes=self.routes)
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            server_header=False,
            proxy_headers=False,
            timeout_keep_alive=max(1, int(s.keepalive_timeout_s)),
            limit_concurrency=s.max_connections,
            h11_max_incomplete_event_size=16 * 1024,
            ssl_certfile=str(s.tls_certfile) if s.tls_certfile else None,
            ssl_keyfile=str(s.tls_keyfile) if s.tls_keyfile else None,
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="jejak-api",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started and self._thread.is_alive():
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        if not self._server.started:
            raise OSError(f"the workspace API did not start on {self.url}")
        log.info("workspace API on %s", self.url)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self._socket.close()
