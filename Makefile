# One obvious command per job. `make test` is what CI runs (.ci/run).
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: bootstrap bootstrap-test test lint pytest demo bench migrations fmt

bootstrap:
	@bash scripts/bootstrap.sh

bootstrap-test:
	@bash scripts/bootstrap.sh --test

lint: bootstrap-test
	$(BIN)/python scripts/gen_migration.py --check
	$(BIN)/python scripts/async_to_sync.py --check
	$(BIN)/sqlfluff lint sql/ --disable-progress-bar
	$(BIN)/python scripts/lint_plpgsql.py
	$(BIN)/ruff check client bench tests
	$(BIN)/mypy

pytest: bootstrap-test
	$(BIN)/python -m pytest -ra $(PYTEST_ARGS)

test: lint pytest

demo: bootstrap
	$(BIN)/pgflow demo

bench: bootstrap
	$(BIN)/python -m bench

migrations: bootstrap
	$(BIN)/python scripts/gen_migration.py
