# The two commands: `make demo` and `make test`. Everything else is a step of those.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export KAFKA_PORT ?= 9092

.PHONY: demo test install kafka-up kafka-down kafka-status lint typecheck schemas-check \
        unit integration soak bench clean

$(STAMP): pyproject.toml setup.py
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "jejak needs Python 3.11 or newer; PYTHON=$(PYTHON) is " + sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

## install: .venv with jejak (editable) and everything the tests need, and Debian's
## chromium for the console's browser tests (installed with apt-get when missing, as root)
install: $(STAMP)
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "note: no chromium; the browser tests will be skipped (as root: apt-get install chromium)" >&2; fi; }

## kafka-up / kafka-down: the local Apache Kafka broker on 127.0.0.1:$(KAFKA_PORT)
kafka-up: install
	PYTHON=$(PY) deploy/kafka.sh up
kafka-down:
	PYTHON=$(PY) deploy/kafka.sh down
kafka-status:
	@PYTHON=$(PY) deploy/kafka.sh status

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# mypy reads a mirror of the package as it is installed (jejak/schemas -> schemas/ ...)
typecheck: install
	@$(PY) deploy/typecheck_tree.py .jejak/typecheck
	$(VENV)/bin/mypy .jejak/typecheck/jejak

schemas-check: install
	$(VENV)/bin/jejak schemas check

unit: install
	$(VENV)/bin/pytest tests/unit -q

# `make test`: installs, lints, type-checks, checks schema compatibility and
# runs every test against a broker of its own: free ports chosen now (never
# another checkout's 9092), state in .jejak/kafka-test-PORT, jars from the
# shared cache in .jejak/kafka/lib; stopped and removed at the end, also on
# Ctrl-C. A JEJAK_TEST_KAFKA set by the caller is used instead.
test: install
	@rc=0; \
	if [ -n "$${JEJAK_TEST_KAFKA:-}" ]; then bootstrap=$$JEJAK_TEST_KAFKA; else \
	  read -r port cport < <($(PY) -c 'import socket; s = [socket.socket() for _ in range(2)]; [x.bind(("127.0.0.1", 0)) for x in s]; print(*(x.getsockname()[1] for x in s))'); \
	  [ -n "$$cport" ] || exit 1; \
	  home=$(CURDIR)/.jejak/kafka-test-$$port; \
	  broker() { KAFKA_PORT=$$port KAFKA_CONTROLLER_PORT=$$cport KAFKA_HOME=$$home PYTHON=$(PY) deploy/kafka.sh "$$@"; }; \
	  trap 'broker down; rm -rf "$$home"' EXIT; trap 'exit 130' INT TERM; \
	  broker up || exit 1; \
	  bootstrap=127.0.0.1:$$port; \
	fi; \
	$(MAKE) --no-print-directory lint typecheck schemas-check || rc=$$?; \
	if [ $$rc -eq 0 ]; then JEJAK_TEST_KAFKA=$$bootstrap $(VENV)/bin/pytest -q || rc=$$?; fi; \
	exit $$rc

# `make demo`: installs, starts the broker, replays a realistic day of the
# marketplace through the whole pipeline, shows the alerts and a lineage report.
demo: kafka-up
	$(VENV)/bin/jejak demo

# `make bench`: the headline figures into bench/RESULTS.md (bench/__main__.py),
# against a broker of its own on free ports (as `make test`), stopped and
# removed at the end. BENCH_SCALE=10 adds the 10-million-event store (built
# once under .jejak/bench); BENCH_RUNS, BENCH_USERS size the runs. The Quix
# Streams reference installs itself into .jejak/bench-quix-venv from PyPI.
# `make soak`: the long fault tests (SIGKILL at every point of the batch cycle, at
# batches 1, 2 and 3, each on its own; more events): tests/integration/test_consumer_faults.py
soak: install
	JEJAK_TEST_SOAK=1 $(VENV)/bin/pytest -q tests/integration/test_consumer_faults.py

bench: install
	@rc=0; \
	if [ -n "$${JEJAK_BENCH_KAFKA:-}" ]; then bootstrap=$$JEJAK_BENCH_KAFKA; else \
	  read -r port cport < <($(PY) -c 'import socket; s = [socket.socket() for _ in range(2)]; [x.bind(("127.0.0.1", 0)) for x in s]; print(*(x.getsockname()[1] for x in s))'); \
	  [ -n "$$cport" ] || exit 1; \
	  home=$(CURDIR)/.jejak/kafka-bench-$$port; \
	  broker() { KAFKA_PORT=$$port KAFKA_CONTROLLER_PORT=$$cport KAFKA_HOME=$$home PYTHON=$(PY) deploy/kafka.sh "$$@"; }; \
	  trap 'broker down; rm -rf "$$home"' EXIT; trap 'exit 130' INT TERM; \
	  broker up || exit 1; \
	  bootstrap=127.0.0.1:$$port; \
	fi; \
	JEJAK_BENCH_KAFKA=$$bootstrap $(PY) -m bench || rc=$$?; \
	exit $$rc

clean:
	-PYTHON=$(PY) deploy/kafka.sh down
	rm -rf .jejak build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
