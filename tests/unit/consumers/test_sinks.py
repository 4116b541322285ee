from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from jejak.consumers.sinks import make_sink
from jejak.errors import UnknownKind
from jejak.lineage.store.writer import AlertRow


def alert(severity: str, reason: str = "disclosure_without_consent") -> AlertRow:
    return AlertRow(
        alert_id=f"e:{reason}",
        event_id="e",
        subject_id="s",
        kind="disclosure",
        occurred_at=datetime(2026, 5, 1, tzinfo=UTC),
        severity=severity,
        reason=reason,
        reasons=(reason,),
        categories=("account.email",),
        purpose="marketing.advertising",
        recipient_id="broker-9",
        recipient_kind="data_broker",
        policy_version="2026.1",
        summary="x",
    )


def test_unknown_sink_kind_lists_the_known_ones() -> None:
    with pytest.raises(UnknownKind, match="log, webhook"):
        make_sink({"kind": "pager"})


def test_log_sink_filters_by_severity(caplog: pytest.LogCaptureFixture) -> None:
    sink = make_sink({"kind": "log", "min_severity": "high"})
    with caplog.at_level(logging.WARNING, logger="jejak.alerts"):
        sink.send([alert("critical"), alert("low", "opted_out")])
    assert len(caplog.records) == 1
    assert "disclosure_without_consent" in caplog.records[0].getMessage()


def test_webhook_sink_posts_the_alerts_as_json() -> None:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    sink = make_sink({"kind": "webhook", "url": f"http://127.0.0.1:{server.server_port}/hook"})
    sink.send([alert("critical"), alert("medium", "opted_out")])
    thread.join(5)
    server.server_close()
    assert [a["reason"] for a in received[0]["alerts"]] == ["disclosure_without_consent"]
    assert received[0]["alerts"][0]["recipient"] == {"id": "broker-9", "kind": "data_broker"}
