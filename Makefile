# thuvien — the two commands: `make run` and `make test`. See README.md.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export THUVIEN_DATA_DIR ?= $(CURDIR)/var
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install models demo serve lint bench clean help

help: ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	# torch first, the CPU build: a plain `torch` requirement would pull a CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[models,ml,dev]'
	touch $@

install: $(VENV)/.installed ## Create .venv and install everything

models: install ## Build the model artefacts (once; rebuilt only when the source changes)
	$(BIN)/thuvien models build

demo: models ## Load the demo library into the data dir
	$(BIN)/thuvien ingest demo/records.jsonl demo/documents.jsonl --library tv-bacgiang
	cp demo/libraries.json $(THUVIEN_DATA_DIR)/libraries.json
	$(BIN)/thuvien ingest-loans demo/loans.synthetic.csv
	$(BIN)/thuvien recommender train
	$(BIN)/thuvien subjects train-catalog

serve: install ## Serve the suite on $(HOST):$(PORT)
	$(BIN)/thuvien serve --host $(HOST) --port $(PORT)

run: demo ## Install, build models, load the demo library and serve at http://127.0.0.1:8000
	THUVIEN_DEMO_PATRON=P0001 $(BIN)/thuvien serve --host $(HOST) --port $(PORT)

test: models ## Install, build the models (once) and run the tests
	$(BIN)/pytest -q --durations=25

lint: install ## ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install ## Run the benchmarks (long)
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean: ## Remove the venv and the data dir
	rm -rf $(VENV) var
