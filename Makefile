# The README's two commands are `make run` and `make test`; each sets up .venv itself on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 7071
DATA_DIR ?= .data

.PHONY: run run-azure test lint unit e2e clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)  ## the app on the embedded default: http://localhost:$(PORT)/api
	$(PY) -m infra.devhost --port $(PORT) --data-dir $(DATA_DIR)

run-azure: $(STAMP)  ## the same functions on Cosmos DB and Event Hubs (emulators or real), settings from local.settings.json
	$(PY) -m infra.devhost --backend azure --port $(PORT) --data-dir $(DATA_DIR)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy .

test: lint  ## lint, type-check, then every test
	$(PY) -m pytest

unit: $(STAMP)
	$(PY) -m pytest -m "not e2e"

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
