"""While a jejak process holds the embedded store, the command line asks that process's API.

chDB admits one process per data folder. A query run beside a running
``jejak serve`` (or ``jejak consume``) finds the folder held and, with a token
in ``JEJAK_API__TOKEN``, asks the API on ``JEJAK_API__HOST``/``PORT`` by
itself, saying so on stderr; without a token it says what to do. Every
process here is a real ``python -m jejak`` on a real chDB folder.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    """A port nobody listens on now (tests never use fixed ports)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


pytestmark = pytest.mark.integration


def _env(tmp_path: Path, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JEJAK_")}
    env.update(
        JEJAK_STORE__DSN=f"chdb://{tmp_path / 'chdb'}",
        JEJAK_TRUST__KEY_FILE=str(tmp_path / "trust" / "signing.key"),
        JEJAK_TRUST__CHECKPOINT_DIR=str(tmp_path / "trust" / "checkpoints"),
        JEJAK_API__PORT=str(port),
        **extra,
    )
    return env


def _jejak(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jejak", *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def held(tmp_path: Path) -> Iterator[tuple[dict[str, str], str]]:
    """A store with an officer token, held by a ``jejak serve`` of its own."""
    port = free_port()
    env = _env(tmp_path, port)
    made = _jejak(env, "token", "create", "--name", "officer-t", "--role", "officer")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    server = subprocess.Popen(
        [sys.executable, "-m", "jejak", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"jejak serve did not start: {server.stderr.read() if server.stderr else ''}"
                    ) from None
                time.sleep(0.2)
        yield env, token
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)


def test_a_query_asks_the_process_that_holds_the_store(
    held: tuple[dict[str, str], str],
) -> None:
    env, token = held
    asked = _jejak({**env, "JEJAK_API__TOKEN": token}, "query", "stats", "--json")
    assert asked.returncode == 0, asked.stderr
    assert "held by a running jejak process; asking its API" in asked.stderr
    assert {row["what"] for row in json.loads(asked.stdout)} >= {"events", "subjects"}
    assert token not in asked.stderr + asked.stdout

    refused = _jejak(env, "query", "stats")
    assert refused.returncode == 1
    assert "held by another jejak process" in refused.stderr
    assert "JEJAK_API__TOKEN" in refused.stderr and "Traceback" not in refused.stderr
