"""The compliance service, as the command line and the web page reach it.

The service itself is defined once, in :mod:`jejak.lineage.workspace.operations`
(the operations table and :class:`~jejak.lineage.workspace.operations.Workspace`).
Here are its two faces, with one method between them, ``call(name, params)``:

- :class:`LocalService`: the workspace on a store this process opened, for a
  caller (the command line on the store is ``local:<user>``, an officer);
- :class:`~jejak.lineage.workspace.client.RemoteWorkspace`: the same operations
  through a running jejak process's API, with a token.

Why two: the embedded chDB store admits one process per data folder. While a
consumer runs, it owns the store, and everyone else asks through its API.
"""

from __future__ import annotations

from typing import Any, Protocol

from jejak.lineage.workspace.auth import Caller
from jejak.lineage.workspace.client import ApiError, RemoteWorkspace
from jejak.lineage.workspace.operations import Workspace


class Service(Protocol):
    def call(self, name: str, params: dict[str, Any] | None = None) -> Any: ...


class LocalService:
    """The workspace of a store this process holds, answering for one caller."""

    def __init__(self, workspace: Workspace, caller: Caller) -> None:
        self.workspace = workspace
        self.caller = caller

    def call(self, name: str, params: dict[str, Any] | None = None) -> Any:
        return self.workspace.call(name, self.caller, params)


__all__ = ["ApiError", "LocalService", "RemoteWorkspace", "Service", "Workspace"]
