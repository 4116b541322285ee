"""Alert sinks: where alerts go besides the store and the alerts topic.

A small registry keyed by ``kind`` (style §3): each sink is a config class plus
an implementation. ``log`` writes one line per alert; ``webhook`` POSTs a JSON
batch to a URL (a chat channel, an incident tool); the ``kafka`` alerts topic is
always written by the consumer itself.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from jejak.errors import UnknownKind
from jejak.lineage.store.writer import AlertRow

log = logging.getLogger(__name__)

SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}


class LogSinkConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["log"] = "log"
    min_severity: str = "low"
    logger: str = "jejak.alerts"


class WebhookSinkConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["webhook"] = "webhook"
    url: str
    min_severity: str = "high"
    timeout_s: float = Field(5.0, gt=0)


def _wanted(alerts: Sequence[AlertRow], min_severity: str) -> list[AlertRow]:
    limit = SEVERITY_RANK.get(min_severity, 3)
    return [a for a in alerts if SEVERITY_RANK.get(a.severity, 3) <= limit]


class LogSink:
    def __init__(self, config: LogSinkConfig) -> None:
        self.config = config
        self._log = logging.getLogger(config.logger)

    def send(self, alerts: Sequence[AlertRow]) -> None:
        for a in _wanted(alerts, self.config.min_severity):
            level = logging.ERROR if a.severity in ("critical", "high") else logging.WARNING
            self._log.log(
                level,
                "%s %s subject=%s event=%s: %s",
                a.severity,
                a.reason,
                a.subject_id,
                a.event_id,
                a.summary,
            )


class WebhookSink:
    def __init__(self, config: WebhookSinkConfig) -> None:
        self.config = config

    def send(self, alerts: Sequence[AlertRow]) -> None:
        wanted = _wanted(alerts, self.config.min_severity)
        if not wanted:
            return
        body = json.dumps({"alerts": [a.to_dict() for a in wanted]}).encode()
        request = urllib.request.Request(
            self.config.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=self.config.timeout_s) as response:
            response.read()


SINKS: dict[str, tuple[type[BaseModel], Callable[[Any], Any]]] = {
    "log": (LogSinkConfig, LogSink),
    "webhook": (WebhookSinkConfig, WebhookSink),
}


def make_sink(spec: dict[str, Any]) -> Any:
    """A sink from its config, e.g. ``{"kind": "webhook", "url": "https://..."}``."""
    kind = str(spec.get("kind", ""))
    if kind not in SINKS:
        raise UnknownKind("alert sink", kind, list(SINKS))
    config_cls, impl = SINKS[kind]
    return impl(config_cls.model_validate(spec))
