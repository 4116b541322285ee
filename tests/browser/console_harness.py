"""A browser tab on the console, for the tests: sign in, navigate by URL, screenshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from console_seed import Desk

from jejak.lineage.api import ApiServer

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / ".jejak" / "screenshots"
"""Where the run's screenshots go (ignored by git): look at them as a person would."""


class Console:
    """One signed-out browser tab on the console, and the tokens to sign in with."""

    def __init__(self, page: Any, server: ApiServer, desk: Desk, name: str) -> None:
        self.page, self.url, self.desk, self.name = page, server.url, desk, name

    def open(self, fragment: str = "") -> None:
        self.page.goto(f"{self.url}/{fragment}")

    def sign_in(self, role: str, fragment: str = "") -> None:
        self.open(fragment)
        self.page.fill("#token", self.desk.tokens[role])
        self.page.click("#signin button[type=submit]")
        self.page.wait_for_selector("#signout:not(.hidden)")

    def go(self, fragment: str) -> None:
        """Navigate inside the signed-in tab (the hash only: sessionStorage stays)."""
        self.page.evaluate("(h) => { location.hash = h; }", fragment)
        self.page.wait_for_load_state()

    def shot(self, label: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{self.name}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def scroll_width(self) -> int:
        return int(self.page.evaluate("document.scrollingElement.scrollWidth"))
