# The two commands a new user needs: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format setup install install-dev bench clean help

help:
	@echo "make run    - set up (venv, install, migrate, demo data) and serve http://$(HOST):$(PORT) with the task worker"
	@echo "make test   - the whole test suite (SQLite, or PostgreSQL when DATABASE_URL is set)"
	@echo "make lint   - ruff and mypy"
	@echo "make bench  - list the benchmarks (see README)"

$(VENV)/.python:
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	@touch $@

$(VENV)/.base: $(VENV)/.python requirements/base.txt
	$(PIP) install -r requirements/base.txt
	@touch $@

$(VENV)/.dev: $(VENV)/.base requirements/dev.txt
	$(PIP) install -r requirements/dev.txt
	@touch $@

install: $(VENV)/.base
install-dev: $(VENV)/.dev

setup: install
	@mkdir -p "$${SCRM_VAR_DIR:-var}"
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py createcachetable
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py seed_social_demo --origin http://$(HOST):$(PORT) --origin http://localhost:$(PORT)

run: setup
	@$(BIN)/python manage.py ensure_demo_staff --url http://$(HOST):$(PORT)/admin/
	$(BIN)/python -m config.serve --host $(HOST) --port $(PORT)

test: install-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install-dev
	@ls bench/*.py | sed 's/^/  $(BIN)\/python /'

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
