# The two commands of the README: `make serve` (set up, index the seeds, serve) and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: install serve index test test-fast bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
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

bench: install
	$(BIN)/python -m benchmarks

clean:
	rm -rf index/generations index/CURRENT index/.lock
