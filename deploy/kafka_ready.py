"""Exit 0 once a client can create a topic on the broker, 1 after the deadline.

Used by ``deploy/kafka.sh`` (``up`` waits on it). Usage:
``kafka_ready.py BOOTSTRAP SECONDS``.
"""

from __future__ import annotations

import sys
import time

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic


def main() -> int:
    bootstrap, seconds = sys.argv[1], float(sys.argv[2])
    deadline = time.monotonic() + seconds
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0, "logger": _Quiet()})
    while time.monotonic() < deadline:
        try:
            futures = admin.create_topics(
                [NewTopic("jejak.readiness", num_partitions=1, replication_factor=1)],
                operation_timeout=5,
                request_timeout=5,
            )
            futures["jejak.readiness"].result(timeout=10)
            return 0
        except KafkaException as exc:
            if exc.args and exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                return 0
        except Exception:
            pass
        time.sleep(0.5)
    return 1


class _Quiet:
    """Swallows librdkafka's connection-refused chatter while the broker starts."""

    def log(self, *args: object, **kwargs: object) -> None:
        return None

    def __getattr__(self, name: str) -> object:
        return lambda *a, **k: None


if __name__ == "__main__":
    sys.exit(main())
