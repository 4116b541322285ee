"""The console in a real browser: Debian's chromium driven by Playwright, the API served in-process.

One browser for the session (starting chromium is the slow part), a fresh
context (own sessionStorage, so signed out) per test. The store is a chDB
database of the session filled through the store's writer
(``console_seed.py``), the workspace's clock fixed inside the data's
week, the API on a free port. Screenshots go to ``.jejak/screenshots/``
(ignored by git).

Playwright's own browser downloads cannot work here; the tests use
``/usr/bin/chromium`` (``make install`` installs it with apt-get when run as
root). Without it the tests are skipped, except under CI (``CI=true``), where
a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from console_harness import Console
from console_seed import Desk, fill

from jejak.lineage.api import ApiServer

CHROMIUM = "/usr/bin/chromium"
CI = os.environ.get("CI", "").lower() == "true"
NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
"""The workspace's clock: a day after Alice's access request, before its deadline."""


def _missing(what: str) -> None:
    if CI:
        pytest.fail(f"{what} (under CI a missing browser is a failure)")
    pytest.skip(what)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -e '.[dev]')")
    if not (os.access(CHROMIUM, os.X_OK) or shutil.which("chromium")):
        _missing(f"no chromium at {CHROMIUM} (apt-get install chromium, or make install as root)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def desk(clickhouse_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    folder = tmp_path_factory.mktemp("console")
    desk = fill(clickhouse_dsn, f"b_{uuid.uuid4().hex[:12]}", folder / "checkpoints", now=NOW)
    yield desk
    desk.store.close()


@pytest.fixture(scope="session")
def server(desk: Desk) -> Iterator[ApiServer]:
    server = ApiServer(desk.workspace, "127.0.0.1", 0).start()
    yield server
    server.stop()


@pytest.fixture
def console(
    browser: Any, server: ApiServer, desk: Desk, request: pytest.FixtureRequest
) -> Iterator[Console]:
    width = getattr(request, "param", 1280)
    context = browser.new_context(
        viewport={"width": width, "height": 900},
        locale="en-GB",
        timezone_id="Asia/Jakarta",
        accept_downloads=True,
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(10_000)
    yield Console(page, server, desk, request.node.name.replace("[", "-").rstrip("]"))
    context.close()
    assert not errors, errors
