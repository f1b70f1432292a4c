# The two set-up commands of README.md: `make bench` and `make test`.
# Each creates the virtual environment and installs what it needs by itself.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
BENCH_ARGS ?= --scyllabench-duration-scale=0.25

.PHONY: bench bench-full test lint unit deps bench-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# What each command needs from Debian's packages, installed when missing (see the script).
bench-deps:
	@bash scripts/ensure-system-deps.sh bench

deps:
	@bash scripts/ensure-system-deps.sh test

bench: $(STAMP) bench-deps
	$(PY) -m pytest benchmarks --scyllabench-html $(BENCH_ARGS) $(PYTEST_ARGS)

bench-full: $(STAMP) bench-deps
	$(PY) -m pytest benchmarks --scyllabench-html --scyllabench-duration-scale=1 $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check pytest_scyllabench tests benchmarks perf conftest.py
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(PY) -m pytest tests/unit tests/plugin $(PYTEST_ARGS)

test: $(STAMP) deps lint
	$(PY) -m pytest tests $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
