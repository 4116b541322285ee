"""Fixtures that start or find the services the integration tests need.

Kafka, in this order: ``JEJAK_TEST_KAFKA`` (a bootstrap address) if set; a
testcontainers Kafka when a Docker engine answers; this checkout's own broker
of ``deploy/kafka.sh`` if it runs (``make kafka-up``); else a broker of
``deploy/kafka.sh`` started for the session on free ports and stopped at its
end (so a broker of another checkout on 9092 is never used or in the way).

ClickHouse, in this order: ``JEJAK_TEST_CLICKHOUSE`` (a DSN) if set;
testcontainers ClickHouse with Docker; else a fresh embedded chDB directory for
the test session (chDB allows one data directory per process, so tests isolate
themselves by database, see ``store_database``).

Unit tests (tests/unit) use none of these.

No test sees the caller's ``JEJAK_*`` variables (``_no_caller_settings``):
settings tests check the defaults, and a developer's shell must not change
what a test means. The fixtures' own ``JEJAK_TEST_*`` are read once, here,
when the module is imported, before any test clears them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

# Property tests draw the same examples on every run (``derandomize``) and keep no
# example database: a run that fails fails again, and a passing suite stays passing
# (the suite is deterministic). ``HYPOTHESIS_PROFILE=explore`` searches afresh.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
hypothesis_settings.register_profile("explore", database=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parent.parent
KAFKA_SCRIPT = ROOT / "deploy" / "kafka.sh"
TEST_KAFKA = os.environ.get("JEJAK_TEST_KAFKA")
TEST_CLICKHOUSE = os.environ.get("JEJAK_TEST_CLICKHOUSE")


@pytest.fixture(autouse=True)
def _no_caller_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without any ``JEJAK_*`` variable; a test sets what it needs."""
    for name in list(os.environ):
        if name.startswith("JEJAK_"):
            monkeypatch.delenv(name)


def _docker_reachable() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@dataclass
class LocalBroker:
    """A broker of ``deploy/kafka.sh`` on its own port and state folder.

    Tests that must stop and start Kafka (the spool test) use a private one so
    the session's shared broker is never disturbed.
    """

    port: int
    home: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self, action: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # the jars come from the cache every home shares (KAFKA_LIB, .jejak/kafka/lib
        # by default): the first fetch is the only download
        env = {
            **os.environ,
            "KAFKA_PORT": str(self.port),
            "KAFKA_HOME": str(self.home),
            "PYTHON": sys.executable,
            **self.env,
        }
        return subprocess.run(
            ["bash", str(KAFKA_SCRIPT), action],
            env=env,
            check=check,
            capture_output=True,
            text=True,
            timeout=180,
        )

    def up(self) -> None:
        proc = self._run("up", check=False)
        if proc.returncode != 0:
            raise RuntimeError(
                f"broker on {self.bootstrap} did not start:\n{proc.stdout}\n{proc.stderr}"
            )

    def down(self) -> None:
        self._run("down", check=False)

    def running(self) -> bool:
        return self._run("status", check=False).returncode == 0


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free right now (all held open until each is chosen)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def free_port() -> int:
    return free_ports(1)[0]


def new_broker(home: Path) -> LocalBroker:
    """A broker (not started) on free client and controller ports, its state in ``home``."""
    port, controller = free_ports(2)
    return LocalBroker(port=port, home=home, env={"KAFKA_CONTROLLER_PORT": str(controller)})


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a real Kafka broker for the whole session."""
    if TEST_KAFKA:
        yield TEST_KAFKA
        return
    if _docker_reachable():
        from testcontainers.kafka import KafkaContainer  # type: ignore[import-untyped]

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    own = LocalBroker(
        port=int(os.environ.get("KAFKA_PORT", "9092")), home=ROOT / ".jejak" / "kafka"
    )
    if own.running():  # this checkout's (`status` ignores another checkout's on the port)
        yield own.bootstrap
        return
    broker = new_broker(tmp_path_factory.mktemp("kafka-session"))
    broker.up()
    try:
        yield broker.bootstrap
    finally:
        broker.down()


@pytest.fixture
def private_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A broker of this test's own (not started yet): for tests that stop and start Kafka."""
    if shutil.which("java") is None:
        pytest.skip("a private broker needs a JDK")
    broker = new_broker(tmp_path_factory.mktemp("kafka"))
    yield broker
    broker.down()


@pytest.fixture
def kafka_topic(kafka_bootstrap: str) -> str:
    """A fresh topic (6 partitions) for one test; it is left for the broker to expire."""
    from confluent_kafka.admin import AdminClient, NewTopic

    name = f"test.{uuid.uuid4().hex[:12]}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=6, replication_factor=1)])[name].result(30)
    return name


@pytest.fixture(scope="session")
def clickhouse_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """DSN of a real ClickHouse engine: a server if configured, else embedded chDB."""
    if TEST_CLICKHOUSE:
        yield TEST_CLICKHOUSE
        return
    if _docker_reachable():
        from testcontainers.clickhouse import ClickHouseContainer  # type: ignore[import-untyped]

        with ClickHouseContainer() as container:
            host = container.get_container_host_ip()
            port = container.get_exposed_port(8123)
            yield f"http://{container.username}:{container.password}@{host}:{port}/default"
        return
    yield f"chdb://{tmp_path_factory.mktemp('chdb')}"


@pytest.fixture
def store_database() -> str:
    """A database name of this test's own inside the session's ClickHouse."""
    return f"t_{uuid.uuid4().hex[:12]}"
