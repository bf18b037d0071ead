# Set-up and everyday commands. Everything installs into .venv from pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export STRONGROOM_DATABASE_URL ?= sqlite:///./strongroom.db

.PHONY: install dev run migrate test lint typecheck unit bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed
dev: $(VENV)/.installed-dev

migrate: install
	$(BIN)/strongroom migrate

# Install, migrate the embedded SQLite database and serve the API on 127.0.0.1:8000.
# On an empty database it creates a first tenant and prints its API key once.
run: install
	$(BIN)/strongroom serve

lint: dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: dev
	$(BIN)/mypy

unit: dev
	$(BIN)/pytest

# The whole suite: lint, types, and the tests on SQLite and (when reachable) PostgreSQL.
test: lint typecheck unit

# The benchmark suite at moderate size (about 15 minutes); see bench/README.md.
bench: install
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	bench/run_all.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
