# The two commands: `make demo` and `make test`. Everything else is a step of those.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export KAFKA_PORT ?= 9092

.PHONY: demo test install kafka-up kafka-down kafka-status lint typecheck schemas-check \
        unit integration bench clean

$(STAMP): pyproject.toml setup.py
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "jejak needs Python 3.11 or newer; PYTHON=$(PYTHON) is " + sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

## install: .venv with jejak (editable) and everything the tests need
install: $(STAMP)

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

# `make test`: installs, starts the broker unless one runs, lints, type-checks,
# checks schema compatibility, runs every test, stops the broker it started.
test: install
	@started=0; \
	if ! PYTHON=$(PY) deploy/kafka.sh status >/dev/null 2>&1; then PYTHON=$(PY) deploy/kafka.sh up || exit 1; started=1; fi; \
	rc=0; \
	$(MAKE) --no-print-directory lint typecheck schemas-check || rc=$$?; \
	if [ $$rc -eq 0 ]; then JEJAK_TEST_KAFKA=$${JEJAK_TEST_KAFKA:-127.0.0.1:$(KAFKA_PORT)} $(VENV)/bin/pytest -q || rc=$$?; fi; \
	if [ $$started -eq 1 ]; then PYTHON=$(PY) deploy/kafka.sh down; fi; \
	exit $$rc

# `make demo`: installs, starts the broker, replays a realistic day of the
# marketplace through the whole pipeline, shows the alerts and a lineage report.
demo: kafka-up
	$(VENV)/bin/jejak demo

bench: install
	$(PY) -m bench

clean:
	-PYTHON=$(PY) deploy/kafka.sh down
	rm -rf .jejak build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
