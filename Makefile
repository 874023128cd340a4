# Nightline: `make run` (local stack + worker) and `make test` (everything, from a fresh clone).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NL := $(BIN)/nightline
STAMP := $(VENV)/.installed

# The test stack lives apart from the `make run` stack, so both can run at once.
TEST_ENV := NIGHTLINE_STATE_DIR=$(CURDIR)/.nightline-test NIGHTLINE_KAFKA_PORT=29092 \
	NIGHTLINE_KAFKA_CONTROLLER_PORT=29093 NIGHTLINE_REDIS_PORT=26379

.PHONY: install run demo stack-up stack-down test unit integration lint schemas bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

run: install
	$(NL) stack up
	$(NL) topics create
	$(NL) schedule load deploy/practices/demo-pediatrics.yaml --actor make-run
	$(NL) schedule load deploy/practices/maple-pediatrics.yaml --actor make-run
	@echo
	@echo "Nightline is starting a worker (Ctrl-C stops it; 'make stack-down' stops Kafka and Redis)."
	@echo "  metrics:  http://127.0.0.1:6066/metrics    health: http://127.0.0.1:6066/healthz"
	@echo "  In another terminal:"
	@echo "    $(NL) publish --sample urgent        # a synthetic urgent call for demo-peds"
	@echo "    $(NL) pushes                         # what the (recording) push gateway sent"
	@echo "    $(NL) tail audit                     # the timeline; after 30 s unacknowledged it re-pages,"
	@echo "                                         # then pages the backup, then the operator desk"
	@echo "    $(NL) ack d-<event id> --clinician dr-rivera --kind accepted"
	@echo
	$(NL) worker

demo: install
	bash deploy/demo.sh

stack-up: install
	$(NL) stack up

stack-down: install
	$(NL) stack down

test: install lint
	@set -o pipefail; export $(TEST_ENV); \
	$(NL) stack up; \
	status=0; $(BIN)/pytest -q -p no:cacheprovider || status=$$?; \
	$(NL) stack down || true; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; \
	exit $$status

unit: install
	$(BIN)/pytest -q tests/unit

integration: install
	@export $(TEST_ENV); $(NL) stack up && $(BIN)/pytest -q tests/integration; \
	status=$$?; $(NL) stack down; exit $$status

lint: install
	$(BIN)/ruff check engine tests
	$(BIN)/mypy engine

bench: install
	$(BIN)/python bench/bench_schedule.py

schemas: install
	$(NL) schemas export

clean:
	rm -rf .nightline .nightline-test
