# Set-up and everyday commands. Everything installs into .venv, at the versions
# pinned (with their hashes) in requirements/*.txt; see docs/development.md.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TEST_WORKERS ?= 4
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check
export STRONGROOM_DATABASE_URL ?= sqlite:///./strongroom.db

.PHONY: install dev run migrate test lint typecheck unit bench lock clean

$(VENV)/.installed: pyproject.toml requirements/run.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) --require-hashes -r requirements/run.txt
	$(PIP) --no-deps -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements/dev.txt
	$(PIP) --require-hashes -r requirements/dev.txt
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

# The suite on every core (pytest-xdist); PYTEST_ARGS adds options, e.g. PYTEST_ARGS="--db sqlite".
unit: dev
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

# The whole suite: lint, types, and the tests on SQLite and (when reachable) PostgreSQL.
test: lint typecheck unit

# The benchmark suite at moderate size (about 15 minutes); see bench/README.md.
bench: install
	$(PIP) --require-hashes -r requirements/bench.txt
	bench/run_all.sh

# Pin the newest versions pyproject.toml's ranges allow, for every platform and Python 3.11+.
LOCK := $(BIN)/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 --generate-hashes
lock: dev
	$(LOCK) --extra dev --upgrade -o requirements/dev.txt
	$(LOCK) -c requirements/dev.txt -o requirements/run.txt
	$(LOCK) --extra bench -c requirements/dev.txt -o requirements/bench.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
