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

# The locks (pip-compile, with hashes): requirements/runtime.txt for the image,
# requirements/dev.txt for .venv and CI, requirements/build.txt for building the wheel.
LOCK_FLAGS := --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links --no-emit-trusted-host

.PHONY: run test lint lock-check lock typecheck pytest bench faults fuzz migrate clean venv

venv: $(VENV)/.installed

# Exactly the locked versions (hash-checked), then the project itself, editable and
# without resolving anything: what CI tests is what the lock says.
$(VENV)/.installed: pyproject.toml requirements/dev.txt
	@test -n "$(PYTHON312)" || { echo "Python 3.12 not found: install it or set PYTHON312=/path/to/python3.12"; exit 1; }
	test -x $(PYTHON) || $(PYTHON312) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --require-hashes --no-deps -r requirements/dev.txt
	$(PYTHON) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# Re-resolve every lock after changing dependencies in pyproject.toml (needs PyPI).
lock: venv
	$(BIN)/pip-compile $(LOCK_FLAGS) -o requirements/runtime.txt pyproject.toml
	$(BIN)/pip-compile $(LOCK_FLAGS) --extra dev --extra tools -o requirements/dev.txt pyproject.toml
	$(BIN)/pip-compile $(LOCK_FLAGS) --only-build-deps --all-build-deps -o requirements/build.txt pyproject.toml

run: venv
	$(BIN)/signage serve --host $(HOST) --port $(PORT)

migrate: venv
	$(BIN)/signage migrate

lint: venv lock-check
	$(BIN)/ruff check actors edge store simulator tests bench
	$(BIN)/ruff format --check actors edge store simulator tests bench

# Fails when pyproject.toml and requirements/*.txt disagree (offline; `make lock` fixes it).
lock-check: venv
	$(PYTHON) -m tests.packaging.lockcheck

typecheck: venv
	$(BIN)/mypy

# The fault tests (tests/faults: killed nodes, cut databases, storms) run in `make faults`.
pytest: venv
	$(BIN)/pytest -m "not faults" $(PYTEST_ARGS)

test: lint typecheck pytest

bench: venv
	$(PYTHON) -m bench.run_all

# The fault-injection tests (tests/faults: kill -9 a node, cut or fail over PostgreSQL,
# stop Redis, SIGTERM under load, a 1,000-screen storm). `.ci/run` runs them after `make test`.
faults: venv
	$(BIN)/pytest -m faults $(PYTEST_ARGS)

# The deep API fuzz: tests/test_api_fuzz.py with FUZZ_EXAMPLES examples per operation and
# mode (`make test` runs the same tests with 3). `.ci/run` runs it after `make faults`.
FUZZ_EXAMPLES ?= 12
fuzz: venv
	SIGNAGE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/test_api_fuzz.py $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
