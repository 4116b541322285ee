"""The workspace over HTTP, derived from the declared operations (``jejak … --api URL``).

:meth:`RemoteWorkspace.call` takes an operation's name and parameters, exactly
like :meth:`~jejak.lineage.workspace.operations.Workspace.call`, and builds the
request from the operation's declaration: path parameters into the path,
the rest into the query string (GET) or a JSON body (POST). There is no second
list of endpoints or signatures to keep in step.

Why it exists: the embedded chDB store admits one process per data folder.
While a consumer runs, it owns the store and serves the API; everyone else
asks through it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from typing import Any

from jejak.errors import JejakError
from jejak.lineage.workspace.operations import BY_NAME, Document
from jejak.schemas.models import format_timestamp


class ApiError(JejakError):
    """The API refused or could not be reached; ``status`` is the HTTP status (0: unreachable)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def _text(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


class RemoteWorkspace:
    """Calls a running jejak process's workspace API with a token."""

    def __init__(self, base_url: str, token: str | None, timeout_s: float = 60.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ApiError(f"the API URL must be http(s)://…, not {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s

    def call(self, name: str, params: dict[str, Any] | None = None) -> Any:
        op = BY_NAME.get(name)
        if op is None:
            raise ApiError(f"no operation {name!r}")
        values = {k: v for k, v in (params or {}).items() if v is not None}
        path = op.path
        for key in op.path_params:
            if key not in values:
                raise ApiError(f"{name}: {key} is required")
            path = path.replace("{" + key + "}", urllib.parse.quote(str(values.pop(key)), safe=""))
        url = self.base_url + path
        data = None
        headers = {"Accept": "application/json"}
        if op.method == "GET":
            if values:
                url += "?" + urllib.parse.urlencode({k: _text(v) for k, v in values.items()})
        else:
            data = json.dumps({k: _text(v) for k, v in values.items()}).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(url, data=data, headers=headers, method=op.method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                body = response.read()
                media_type = response.headers.get("content-type", "application/json")
                if not media_type.startswith("application/json"):  # a letter (HTML)
                    disposition = response.headers.get("content-disposition", "")
                    filename = disposition.rpartition("filename=")[2].strip('"')
                    return Document(body.decode("utf-8"), media_type, filename)
                return json.loads(body)
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            try:
                detail = json.loads(detail).get("error", detail)
            except (ValueError, AttributeError):
                pass
            raise ApiError(f"{self.base_url}: {exc.code}: {detail}", exc.code) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ApiError(f"cannot reach the workspace API at {self.base_url}: {exc}") from None
