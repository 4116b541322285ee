"""The Quix Streams reference: consume + Avro decode + batched chDB insert.

Run by ``bench.bench_consume`` with the Python of ``.jejak/bench-quix-venv``
(quixstreams, fastavro, clickhouse-connect from PyPI; nothing of jejak):
``quix_app.py BOOTSTRAP TOPIC GROUP MESSAGES SCHEMAS.json FOLDER``. Prints one
JSON line: messages, rows stored, CPU seconds of this process (every thread,
chDB's included) from the first poll to the last commit, wall seconds, peak
resident memory.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import rawsink
from quixstreams import Application
from quixstreams.models.serializers import Deserializer
from quixstreams.sinks import BatchingSink, SinkBatch


class AvroSingleObject(Deserializer):  # type: ignore[misc]
    def __init__(self, schemas: dict[bytes, Any]) -> None:
        super().__init__()
        self.schemas = schemas

    def __call__(self, value: bytes, ctx: Any) -> Any:
        return rawsink.decode(value, self.schemas)


class ChdbSink(BatchingSink):  # type: ignore[misc]
    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.sink = rawsink.Sink(folder)

    def write(self, batch: SinkBatch) -> None:
        records = [item.value for item in batch]
        where = [(batch.partition, item.offset) for item in batch]
        self.sink.insert(rawsink.columns(records, where))


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    bootstrap, topic_name, group, n, schemas_path, folder = sys.argv[1:7]
    schemas = rawsink.load_schemas(Path(schemas_path))
    app = Application(
        broker_address=bootstrap,
        consumer_group=group,
        auto_offset_reset="earliest",
        commit_every=5000,
        commit_interval=0.5,
        use_changelog_topics=False,
    )
    topic = app.topic(topic_name, value_deserializer=AvroSingleObject(schemas))
    sink = ChdbSink(Path(folder))
    sdf = app.dataframe(topic)
    sdf.sink(sink)
    c0, w0 = cpu(), time.perf_counter()
    app.run(count=int(n), timeout=20, collect=False)
    c1, w1 = cpu(), time.perf_counter()
    stored = sink.sink.count()
    print(
        json.dumps(
            {
                "messages": int(n),
                "stored": stored,
                "cpu_s": c1 - c0,
                "wall_s": w1 - w0,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
