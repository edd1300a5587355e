# The two commands of the README: `make serve` (set up, index the seeds, serve) and `make test`.
# Every install takes its versions from constraints.txt, the whole dependency tree pinned (`make lock`).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
PIP_INSTALL := $(BIN)/pip install --quiet --disable-pip-version-check

.PHONY: install serve index test test-fast lint lock bench clean

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -c constraints.txt -e '.[test,ray]'
	touch $@

install: $(BIN)/.installed

index: install
	$(BIN)/qa index

serve: install
	$(BIN)/qa serve

test: install
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m 'not slow'

# Style and types: what CI checks before the tests (settings in pyproject.toml).
lint: install
	$(BIN)/ruff check
	$(BIN)/ruff format --check
	$(BIN)/mypy

# Re-pin the whole dependency tree after changing pyproject.toml's dependencies.
lock:
	PYTHON=$(PYTHON) tools/lock.sh

bench: install
	$(BIN)/python -m benchmarks

clean:
	rm -rf index/generations index/CURRENT index/.lock
