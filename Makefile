# The README's two commands are `make run` and `make test`; each sets up .venv itself on a fresh machine.
# Python 3.13, the version Azure runs the app on: python3.13 on PATH, else pyenv's 3.13 (its python3.13
# shim refuses until that version is selected, so ask pyenv where it lives).
PYTHON ?= $(shell python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null \
	|| ls -d "$$(pyenv root 2>/dev/null)"/versions/3.13*/bin/python3.13 2>/dev/null | tail -n 1)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 7071
DATA_DIR ?= .data

.PHONY: run run-azure cli test lint unit e2e bench clean protos wire asyncapi swagger-ui fuzz

$(STAMP): requirements.txt requirements-dev.txt
	@test -n "$(PYTHON)" || { echo "Python 3.13 not found: install it (or pyenv install 3.13), or make PYTHON=/path/to/python3.13"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' \
		|| { echo "$(PYTHON) is not Python 3.13"; exit 1; }
	$(PYTHON) -m venv --clear $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)  ## the app on the embedded default: http://localhost:$(PORT)/api
	$(PY) -m infra.tools.devhost --port $(PORT) --data-dir $(DATA_DIR)

run-azure: $(STAMP)  ## the same functions on Cosmos DB and Event Hubs (emulators or real), settings from local.settings.json; ARGS=--no-triggers: HTTP only
	$(PY) -m infra.tools.devhost --backend azure --port $(PORT) --data-dir $(DATA_DIR) $(ARGS)

cli: $(STAMP)  ## the read-model operator tool on the embedded data: make cli ARGS="verify --all"
	$(PY) -m infra.tools.cli $(ARGS) --data-dir $(DATA_DIR)

asyncapi: $(STAMP)  ## rewrite docs/asyncapi.json (the hubs' AsyncAPI 3.0 document) from the code
	$(PY) -m infra.tools.asyncapi

SWAGGER_UI ?= 5.35.0
swagger-ui:  ## replace the vendored Swagger UI (infra/entry/swagger_ui, the /api/docs page) with npm's swagger-ui-dist $(SWAGGER_UI)
	rm -rf .swagger-ui && mkdir .swagger-ui && cd .swagger-ui && npm pack --silent swagger-ui-dist@$(SWAGGER_UI) >/dev/null && tar xzf swagger-ui-dist-$(SWAGGER_UI).tgz
	cp .swagger-ui/package/swagger-ui-bundle.js .swagger-ui/package/swagger-ui.css .swagger-ui/package/LICENSE .swagger-ui/package/NOTICE infra/entry/swagger_ui/
	echo "swagger-ui-dist $(SWAGGER_UI) (npm), files as published: make swagger-ui SWAGGER_UI=<version> replaces them" > infra/entry/swagger_ui/VERSION
	rm -rf .swagger-ui

protos: $(STAMP)  ## recompile infra/tools/function_rpc.proto (the host <-> worker messages the dev host speaks)
	$(PY) -m grpc_tools.protoc -Iinfra/tools --python_out=infra/tools infra/tools/function_rpc.proto

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy .
	$(VENV)/bin/lint-imports --no-cache

test: lint wire  ## lint, type-check, then every test
	$(PY) -m pytest

# The node tools the tests run (tests/wire: the Cosmos-protocol server, the AsyncAPI parser): npm installs
# them when node is here; without node those tests skip and say why.
WIRE_STAMP := tests/wire/node_modules/.installed
wire: $(WIRE_STAMP)
$(WIRE_STAMP): tests/wire/package.json tests/wire/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tests/wire --omit=dev --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the Cosmos wire suites will be skipped (install Node.js 20+ to run them)"; fi

unit: $(STAMP)
	$(PY) -m pytest -m "not e2e"

# `make test` fuzzes every operation with a few requests (FUZZ_EXAMPLES defaults to 25 per operation and
# mode there); this is the long run, with the count of requests sent in its log.
FUZZ_EXAMPLES ?= 1000
fuzz: $(STAMP)  ## fuzz the API from its OpenAPI document for a long time: FUZZ_EXAMPLES requests per operation and mode
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest tests/entry/functions/test_contract_fuzz.py -o log_cli=true --log-cli-level=INFO

# Benchmarks (issue 6): their own dependencies on top of the dev ones; never part of `make test`.
BENCH_STAMP := $(VENV)/.bench-installed
BENCH ?= --quick
$(BENCH_STAMP): $(STAMP) requirements-bench.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)  ## speed and cost vs the peers: bench-results/report.md (BENCH=--full: about ten minutes)
	$(PY) -m bench $(BENCH) --out bench-results

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis tests/wire/node_modules
