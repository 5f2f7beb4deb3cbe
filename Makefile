# Two commands on a fresh machine: `make demo` and `make test`.
#
# Installs come from hashed lock files (requirements/*.txt, made from pyproject.toml's ranges
# by `make lock`), with whatever pip the interpreter has, then the project itself without
# dependencies. `make demo` installs what running needs; `make test` (and `make install`, the
# developer install CI uses) adds the test extras.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
RUN_LOCK := requirements/run.txt
TEST_LOCK := requirements/test.txt
LOCK_TOOLS := .venv-lock
UV_RANGE := uv>=0.5,<1

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(VENV)/.run-installed: $(RUN_LOCK) pyproject.toml | $(BIN)/python
	$(PIP) install --quiet --require-hashes --no-deps -r $(RUN_LOCK)
	$(PIP) install --quiet --no-deps -e .
	touch $@

$(VENV)/.test-installed: $(TEST_LOCK) $(VENV)/.run-installed
	$(PIP) install --quiet --require-hashes --no-deps -r $(TEST_LOCK)
	touch $@

install-run: $(VENV)/.run-installed

install: $(VENV)/.test-installed

# `make demo DEMO_ARGS="--port 8080"` passes options on (docs/demo.md).
DEMO_ARGS ?=
demo: install-run
	$(BIN)/newsletter demo $(DEMO_ARGS)

test-deps:
	bash scripts/test-deps

test: install test-deps
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install
	$(BIN)/python bench/render.py

# Refresh the lock files from pyproject.toml's ranges: one resolution for every Python the
# package allows (--universal), the running lock constrained to the test lock's versions so
# that installing one after the other never changes a version. `make lock` keeps the versions
# already pinned (it adds what pyproject.toml added); `make lock UPGRADE=--upgrade` moves
# every pin to the newest release its range allows.
UPGRADE ?=
lock:
	test -x $(LOCK_TOOLS)/bin/uv || ($(PY) -m venv $(LOCK_TOOLS) && \
		$(LOCK_TOOLS)/bin/python -m pip install --quiet '$(UV_RANGE)')
	$(LOCK_TOOLS)/bin/uv pip compile pyproject.toml --extra test --universal --generate-hashes \
		--python-version 3.11 $(UPGRADE) --quiet -o $(TEST_LOCK)
	$(LOCK_TOOLS)/bin/uv pip compile pyproject.toml --universal --generate-hashes \
		--python-version 3.11 --quiet -c $(TEST_LOCK) -o $(RUN_LOCK)

.PHONY: install install-run demo test test-deps lint bench lock
