"""librdkafka's log and client errors through Python logging: rate-limited, one clear warning.

Every Kafka client jejak creates (the SDK's producer, the consumer and its
producer, admin clients) gets ``**KafkaLog(...).client_config()``: librdkafka's
``logger`` and ``error_cb`` properties. Without them librdkafka writes to
stderr, and with a broker down it writes a line per connection attempt: about
20 a second for one producer, hundreds before a consumer's own error.

What an operator sees instead:

* **One warning** on the ``jejak.kafka`` logger when librdkafka reports every
  broker down (``_ALL_BROKERS_DOWN``): "Kafka cannot be reached at <bootstrap>",
  naming the client and that it keeps retrying. It is not repeated while the
  outage lasts; it is given again for the next outage, that is after the owner
  calls :meth:`KafkaLog.reachable` (a delivery, a message, an assignment, an
  answered probe) or after ``quiet_s`` without any connection failure.
* **librdkafka's own lines** on ``jejak.kafka.librdkafka`` at the level
  confluent-kafka maps from their syslog severity, except connection failures
  (facility ``FAIL``, "Connect to ... failed"), which are at INFO: the warning
  above says the same once in plain words, and ``-v`` shows them.
* **A rate limit** per (facility, level): at most ``burst`` lines per
  ``interval_s``; what is left out is counted, and one line says how many when
  the window ends (at the next line of that kind, or at :meth:`KafkaLog.close`).

The error callback logs ``_TRANSPORT`` (one broker's connection failed; it
duplicates a ``FAIL`` line) at DEBUG, fatal errors at ERROR, and anything else
at WARNING, through the same rate limit. Nothing here raises into librdkafka.

Limits: librdkafka hands over its lines only while the client is polled, so a
client that is not polled says nothing; the admin client reports an
unreachable broker as an exception of the call, not through the callback.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

LOGGER = "jejak.kafka"
"""The jejak warnings about Kafka (broker unreachable, reachable again)."""
LIBRDKAFKA_LOGGER = "jejak.kafka.librdkafka"
"""librdkafka's own log lines."""

# librdkafka facilities of connection failures: expected while a broker restarts
_CONNECTION_FACILITIES = frozenset({"FAIL"})


@dataclass
class _Window:
    started: float
    passed: int = 0
    suppressed: int = 0


class RateLimit:
    """At most ``burst`` events per key in each window of ``interval_s``; counts the rest.

    Pure bookkeeping with an injected clock, so its behaviour is tested without
    waiting.
    """

    def __init__(
        self, burst: int = 5, interval_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if burst < 1 or interval_s <= 0:
            raise ValueError("burst must be >= 1 and interval_s > 0")
        self.burst, self.interval_s, self._clock = burst, interval_s, clock
        self._windows: dict[Any, _Window] = {}

    def admit(self, key: Any) -> tuple[bool, int]:
        """(whether this event may be logged, how many of its kind were left out in the
        window that just ended: report them now)."""
        now = self._clock()
        window = self._windows.get(key)
        ended = 0
        if window is None or now - window.started >= self.interval_s:
            ended = window.suppressed if window is not None else 0
            window = self._windows[key] = _Window(now)
        if window.passed < self.burst:
            window.passed += 1
            return True, ended
        window.suppressed += 1
        return False, ended

    def drain(self) -> list[tuple[Any, int]]:
        """The keys with events left out in their current window, and how many; resets them."""
        out = [(key, w.suppressed) for key, w in self._windows.items() if w.suppressed]
        for key, _ in out:
            self._windows[key].suppressed = 0
        return out


class KafkaLog:
    """librdkafka's ``logger`` and ``error_cb`` for one client (see the module docstring).

    ``client`` names the client in the warning ("the SDK producer", "the lineage
    consumer"); ``bootstrap`` is the address it is told to reach (never a
    credential). Thread-safe: librdkafka calls it from whichever thread polls.
    """

    def __init__(
        self,
        client: str,
        bootstrap: str,
        *,
        burst: int = 5,
        interval_s: float = 60.0,
        quiet_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger | None = None,
        librdkafka_logger: logging.Logger | None = None,
    ) -> None:
        self.client, self.bootstrap = client, bootstrap
        self.quiet_s = quiet_s
        self._clock = clock
        self._limit = RateLimit(burst, interval_s, clock)
        self._log = logger or logging.getLogger(LOGGER)
        self._lines = librdkafka_logger or logging.getLogger(LIBRDKAFKA_LOGGER)
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._last_failure: float | None = None

    # -- what librdkafka calls ----------------------------------------------------------

    def client_config(self) -> dict[str, Any]:
        """The librdkafka properties that route this client's log and errors here."""
        return {"logger": self, "error_cb": self.error}

    def log(self, level: int, msg: str, *args: Any) -> None:
        """The ``logging.Logger.log`` signature confluent-kafka calls: ``"%s [%s] %s"``
        with (facility, client name, text)."""
        try:
            facility = str(args[0]) if args else ""
            if facility in _CONNECTION_FACILITIES:
                level = min(level, logging.INFO)
                self._failure()
            self._emit(self._lines, ("log", facility, level), level, msg, args)
        except Exception:  # never into librdkafka
            logging.getLogger(__name__).debug("librdkafka log line dropped", exc_info=True)

    def error(self, err: Any) -> None:
        """librdkafka's error callback (client-wide errors, not per message)."""
        try:
            name, text = str(err.name()), str(err.str())
            if name == "_ALL_BROKERS_DOWN":
                self.unreachable(text)
                return
            if name == "_TRANSPORT":
                self._failure()
                level, what = logging.DEBUG, "kafka: %s"
            elif err.fatal():
                level, what = logging.ERROR, "kafka fatal error: %s"
            else:
                level, what = logging.WARNING, "kafka: %s"
            self._emit(self._log, ("error", name, level), level, what, (text,))
        except Exception:
            logging.getLogger(__name__).debug("kafka error callback failed", exc_info=True)

    # -- what the client's owner calls --------------------------------------------------

    def unreachable(self, detail: str = "") -> None:
        """Every broker is down: one warning per outage."""
        with self._lock:
            now = self._clock()
            new_outage = self._down_since is None or (
                self._last_failure is not None and now - self._last_failure > self.quiet_s
            )
            self._last_failure = now
            if not new_outage:
                return
            self._down_since = now
        self._log.warning(
            "Kafka cannot be reached at %s (%s): %s keeps retrying in the background; "
            "librdkafka's own lines are at INFO on %s (-v)",
            self.bootstrap,
            detail or "all brokers down",
            self.client,
            LIBRDKAFKA_LOGGER,
        )

    def reachable(self) -> None:
        """The client got an answer from a broker: the next outage warns again."""
        with self._lock:
            since = self._down_since
            self._down_since = None
            self._last_failure = None
        if since is not None:
            self._log.info(
                "Kafka at %s reachable again for %s after %.0f s",
                self.bootstrap,
                self.client,
                self._clock() - since,
            )

    @property
    def down(self) -> bool:
        """Whether an outage was reported and not yet ended."""
        with self._lock:
            return self._down_since is not None

    def close(self) -> None:
        """Say how many lines the rate limit left out in the windows still open."""
        with self._lock:
            drained = self._limit.drain()
        for key, count in drained:
            self._suppressed(key, count)

    # -- internals ----------------------------------------------------------------------

    def _failure(self) -> None:
        with self._lock:
            self._last_failure = self._clock()

    def _emit(
        self, logger: logging.Logger, key: tuple[Any, ...], level: int, msg: str, args: Any
    ) -> None:
        if not logger.isEnabledFor(level):
            return
        with self._lock:
            admitted, ended = self._limit.admit(key)
        if ended:
            self._suppressed(key, ended)
        if admitted:
            logger.log(level, msg, *args)

    def _suppressed(self, key: tuple[Any, ...], count: int) -> None:
        level = key[-1]
        what = f"librdkafka {key[1]}" if key[0] == "log" else f"kafka {key[1]}"
        logger = self._lines if key[0] == "log" else self._log
        if isinstance(level, int) and logger.isEnabledFor(level):
            logger.log(
                level,
                "%d more %s line(s) of %s left out (at most %d per %.0f s)",
                count,
                what,
                self.client,
                self._limit.burst,
                self._limit.interval_s,
            )
