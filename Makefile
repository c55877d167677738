# dbrunbook: `make triage` (the main job) and `make test` (the suite's own tests) set themselves up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install triage test faults lint typecheck bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

## .venv with dbrunbook (editable) and its dev extra; every README command runs from it (.venv/bin/...).
install: $(STAMP)

## The main job: runbook triage against a throwaway Supabase-shaped Postgres with the demo project.
triage: $(STAMP)
	$(BIN)/pytest -m triage --target=embedded $(PYTEST_ARGS)

## The suite's own tests: inject faults into real Postgres and run the product as users do.
test: $(STAMP)
	$(BIN)/pytest -c tests/pytest.ini tests $(PYTEST_ARGS)

## The fault matrix: every @pytest.mark.fault self-test as a row; rewrites the README's table.
faults: $(STAMP)
	$(BIN)/pytest -c tests/pytest.ini -m fault tests --fault-matrix-readme=README.md $(PYTEST_ARGS)

## ruff and mypy (strict on dbrunbook/); .ci/run runs it before the tests.
lint: $(STAMP)
	$(BIN)/ruff check dbrunbook checks rls_contracts tests bench
	$(BIN)/mypy

## Benchmarks side by side with the peers (installs the Supabase CLI, migra and pgTAP on first use).
bench: $(STAMP)
	$(BIN)/python -m bench.triage
	$(BIN)/python -m bench.locks
	$(BIN)/python bench/drift/run.py
	$(BIN)/python bench/rls/run.py

clean:
	rm -rf $(VENV) reports/*.html reports/*.xml reports/*.json reports/evidence reports/browser
