# Two commands: `make run` (serve on 127.0.0.1:8000) and `make test` (lint, types, tests).
# Everything else is for operators and benchmarks.

VENV    := .venv
BIN     := $(VENV)/bin
PYTHON  := $(BIN)/python
# The first candidate that really runs Python 3.12: a python3.12 on PATH (pyenv's shim
# may exist without the version selected, so each is tried), then pyenv's own 3.12.
PYTHON312 ?= $(shell for p in python3.12 $$(command -v pyenv >/dev/null 2>&1 && \
	ls -d $$(pyenv root)/versions/3.12*/bin/python3.12 2>/dev/null | sort -V | tail -n 1); do \
	"$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null && \
	{ command -v "$$p"; break; }; done)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck pytest bench faults migrate clean venv

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON312)" || { echo "Python 3.12 not found: install it or set PYTHON312=/path/to/python3.12"; exit 1; }
	test -x $(PYTHON) || $(PYTHON312) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[dev]'
	touch $@

run: venv
	$(BIN)/signage serve --host $(HOST) --port $(PORT)

migrate: venv
	$(BIN)/signage migrate

lint: venv
	$(BIN)/ruff check actors edge store tests bench
	$(BIN)/ruff format --check actors edge store tests bench

typecheck: venv
	$(BIN)/mypy

pytest: venv
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

bench: venv
	$(PYTHON) -m bench.run_all

# Only the multi-process and fault-injection tests (also part of `make test`).
faults: venv
	$(BIN)/pytest -m slow $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
