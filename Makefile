# Nightline: `make run` (local stack + worker) and `make test` (everything, from a fresh clone).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NL := $(BIN)/nightline
STAMP := $(VENV)/.installed

# The test stack lives apart from the `make run` stack, so both can run at once.
# `make run` and `make demo` push through the local fake APNs / FCM (started with the stack).
RUN_ENV := NIGHTLINE_PUSH_GATEWAY=local-fakes
RUN_STATE := $(or $(NIGHTLINE_STATE_DIR),.nightline)
API_URL := https://127.0.0.1:$(or $(NIGHTLINE_API_PORT),8443)

TEST_ENV := NIGHTLINE_STATE_DIR=$(CURDIR)/.nightline-test NIGHTLINE_KAFKA_PORT=29092 \
	NIGHTLINE_KAFKA_CONTROLLER_PORT=29093 NIGHTLINE_REDIS_PORT=26379 NIGHTLINE_API_PORT=28443

.PHONY: install browser screenshots run demo stack-up stack-down test unit integration lint schemas bench mutation clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# The portal's browser tests drive Debian's Chromium (Playwright's own download cannot
# work here); installed with apt-get when missing.
CHROMIUM := /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium for the browser tests"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  { apt-get install -y --no-install-recommends chromium || \
	    { apt-get update && apt-get install -y --no-install-recommends chromium; }; } \
	    > $(VENV)/chromium-install.log 2>&1 || \
	  { tail -20 $(VENV)/chromium-install.log; echo "could not install chromium (apt-get, as root)"; exit 1; }; }

run: export NIGHTLINE_PUSH_GATEWAY := local-fakes
run: install
	$(NL) stack up
	$(NL) topics create
	$(NL) schedule load deploy/practices/demo-pediatrics.yaml --actor make-run
	$(NL) schedule load deploy/practices/maple-pediatrics.yaml --actor make-run
	bash deploy/demo-phones.sh
	bash deploy/demo-accounts.sh
	@$(NL) api-keys ensure --integration make-run --practice demo-peds --practice maple-peds \
		--file $(RUN_STATE)/api/demo-api-key > /dev/null
	@echo
	@echo "Nightline is starting a worker (Ctrl-C stops it; 'make stack-down' stops the stack)."
	@echo "Pushes go to the local fake APNs / FCM; the clinicians' phones are virtual."
	@echo "  Portal: $(API_URL)/portal/   (self-signed: trust $(RUN_STATE)/api-tls/ca.pem)"
	@echo "    demo logins (username / password):"
	@echo "      admin@demo-peds / demo-admin-pass   practice administrator of both practices;"
	@echo "        its code: $(NL) accounts totp-code --secret-file $(RUN_STATE)/demo-admin.totp"
	@echo "      rivera@demo-peds / demo-rivera-pass, chen@demo-peds / demo-chen-pass   clinicians"
	@echo "      operator@demo / demo-operator-pass   the operator console ($(API_URL)/portal/desk)"
	@echo "  API: $(API_URL)/v1   integration key (demo-peds, maple-peds): $(RUN_STATE)/api/demo-api-key"
	@echo "    the desk's live queue:"
	@echo "      T=\$$(curl -sS --cacert $(RUN_STATE)/api-tls/ca.pem -H 'Content-Type: application/json' \\"
	@echo "        -d '{\"username\":\"operator@demo\",\"password\":\"demo-operator-pass\"}' \\"
	@echo "        $(API_URL)/v1/auth/sign-in | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')"
	@echo "      curl -N --cacert $(RUN_STATE)/api-tls/ca.pem -H \"Authorization: Bearer \$$T\" $(API_URL)/v1/desk/stream"
	@echo "  worker metrics: http://127.0.0.1:6066/metrics   live: /healthz   ready: /readyz"
	@echo "  In another terminal, an urgent call over HTTP (a new event id each time):"
	@echo "    $(NL) publish --sample urgent --print | curl -sS --cacert $(RUN_STATE)/api-tls/ca.pem \\"
	@echo "      -H \"X-Api-Key: \$$(cat $(RUN_STATE)/api/demo-api-key)\" -H 'Content-Type: application/json' \\"
	@echo "      --data-binary @- $(API_URL)/v1/intake"
	@echo "  or the same through Kafka, and then follow it:"
	@echo "    export NIGHTLINE_PUSH_GATEWAY=local-fakes"
	@echo "    $(NL) publish --sample urgent                      # a synthetic urgent call"
	@echo "    $(NL) device listen --device rivera-iphone --read  # dr-rivera's phone: receipts"
	@echo "    $(NL) device inbox --device rivera-iphone          # what the phone decrypted"
	@echo "    $(NL) tail audit               # unanswered: re-page after 30 s, then np-chen,"
	@echo "                                   # then the operator desk"
	@echo "    $(NL) device listen --device chen-pixel --accept   # the backup accepts"
	@echo "    $(NL) ack d-<id> --operator op-1 --desk operator-desk  # or the desk claims it"
	@echo "    $(NL) verify --since 1h        # did every call end with an outcome?"
	@echo
	$(NL) worker

demo: install
	bash deploy/demo.sh

stack-up: install
	$(RUN_ENV) $(NL) stack up

stack-down: install
	$(NL) stack down

test: install lint browser
	@set -o pipefail; export $(TEST_ENV); \
	$(NL) stack up; \
	status=0; $(BIN)/pytest -q -p no:cacheprovider || status=$$?; \
	$(NL) stack down || true; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; \
	exit $$status

unit: install
	$(BIN)/pytest -q tests/unit

integration: install browser
	@export $(TEST_ENV); $(NL) stack up && $(BIN)/pytest -q tests/integration; \
	status=$$?; $(NL) stack down; exit $$status

lint: install
	$(BIN)/ruff check engine tests bench
	$(BIN)/mypy engine

# bench_e2e.py uses KAFKA_BOOTSTRAP_SERVERS / REDIS_URL when set, else starts the local
# stack (as `make run` does) and stops what it started; it takes 10-15 minutes.
bench: install
	@status=0; for b in schedule triage apns push timing e2e; do \
		echo "== $(BIN)/python bench/bench_$$b.py"; $(BIN)/python bench/bench_$$b.py || status=1; \
	done; exit $$status

# The README's portal screenshots (docs/img/*.png), taken on the test stack with the
# browser tests' setup; about a minute.
screenshots: install browser
	@export $(TEST_ENV); $(NL) stack up && $(BIN)/python -m tests.integration.screenshots; \
	status=$$?; $(NL) stack down; exit $$status

schemas: install
	$(NL) schemas export

# Mutation testing of engine/domain and engine/handlers against the unit tests
# ([tool.mutmut] in pyproject.toml). Slow (most of an hour on 2 cores), one worker at the
# lowest priority; not part of `make test`. Re-running reuses results in mutants/ for
# unchanged functions. The table counts mutants by module; "rate" is the share no test
# noticed: (survived + no tests) / generated. `$(BIN)/mutmut browse` shows each one.
MUTATION_TABLE := { m = $$1; sub(/^ +/, "", m); sub(/\.[^.]*$$/, "", m); \
	d = m; sub(/\.[^.]*$$/, "", d); \
	n[m]++; c[m, $$2]++; n[d]++; c[d, $$2]++; n["all"]++; c["all", $$2]++ } \
	END { for (m in n) printf "%-36s %5d %6d %8d %8d %7d %10d %7d %5.1f%%\n", m, n[m], \
	c[m, "killed"], c[m, "survived"], c[m, "no tests"], c[m, "timeout"], \
	c[m, "suspicious"], c[m, "skipped"], 100 * (c[m, "survived"] + c[m, "no tests"]) / n[m] }

mutation: install
	nice -n 19 $(BIN)/mutmut run --max-children 1
	@printf "\n%-36s %5s %6s %8s %8s %7s %10s %7s %6s\n" module total killed survived \
		"no tests" timeout suspicious skipped rate
	@$(BIN)/mutmut results --all true | awk -F': ' '$(MUTATION_TABLE)' | sort

clean:
	rm -rf .nightline .nightline-test
