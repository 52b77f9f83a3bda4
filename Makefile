# Tally: `make run` starts the whole stack, `make test` tests it. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PACKAGES := shared services/auth services/posts services/votes gateway
# What the test suites share (tally_testing); in .venv, never in an image.
TEST_SUPPORT := testing
SERVICES := auth posts votes
# Every component that owns a schema and migrations: the services, and the
# gateway (it remembers deleted users).
MIGRATED := services/auth services/posts services/votes gateway

# Each service's own database URL; by default one database, one role and schema per service.
export AUTH_DATABASE_URL ?= postgresql+psycopg2://tally_auth:tally_auth@127.0.0.1:5432/tally
export POSTS_DATABASE_URL ?= postgresql+psycopg2://tally_posts:tally_posts@127.0.0.1:5432/tally
export VOTES_DATABASE_URL ?= postgresql+psycopg2://tally_votes:tally_votes@127.0.0.1:5432/tally
export GATEWAY_DATABASE_URL ?= postgresql+psycopg2://tally_gateway:tally_gateway@127.0.0.1:5432/tally
export TALLY_AMQP_URL ?= amqp://guest:guest@127.0.0.1:5672/
export GATEWAY_HOST ?= 127.0.0.1
# `make run REPLICAS=3`: three of every API behind the gateway, and three of every relay and worker.
REPLICAS ?= 1
export PATH := $(CURDIR)/$(BIN):$(PATH)
DATABASE_URLS = auth=$(AUTH_DATABASE_URL) posts=$(POSTS_DATABASE_URL) votes=$(VOTES_DATABASE_URL) gateway=$(GATEWAY_DATABASE_URL)

# The test run's own database: created by the tests, dropped at the end.
export TALLY_TEST_DATABASE ?= tally_test
TEST_DATABASE_URLS = $(foreach s,$(SERVICES) gateway,$(s)=postgresql+psycopg2://tally_$(s):tally_$(s)@127.0.0.1:5432/$(TALLY_TEST_DATABASE))
PYTEST := $(BIN)/pytest -q -p no:cacheprovider

.PHONY: help install lock deploy-tools browser-tools contract-tools preflight database migrate run test reconcile bench lint clean

help:
	@echo "make run    install what is missing, migrate, start the whole stack on http://127.0.0.1:8000"
	@echo "make test   every test, against the real PostgreSQL and RabbitMQ, in a database of its own"
	@echo "make reconcile  recompute every post's vote count from the votes service (stack running)"
	@echo "make bench  load 1,000 users, 100,000 posts, 1,000,000 votes and measure (prints figures)"
	@echo "make lint   ruff check, ruff format --check and mypy --strict (make test runs them too)"
	@echo "make lock   pin every dependency again (requirements/*.txt) after changing one"

install: $(VENV)/.installed

# Exactly the versions of requirements/dev.txt, hashes checked; then Tally's own packages, editable.
$(VENV)/.installed: requirements/dev.txt $(foreach p,$(PACKAGES) $(TEST_SUPPORT),$(p)/pyproject.toml)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev.txt
	$(BIN)/pip install --quiet --no-deps $(foreach p,$(PACKAGES) $(TEST_SUPPORT),-e $(p))
	@touch $@

# After changing a dependency in a pyproject.toml or a requirements file: pins the new set
# (tools/lock.py; tests/deploy/test_lock.py fails until this has run).
lock: install
	@$(BIN)/python tools/lock.py

# docker-compose (Debian's package) resolves the compose file offline for tests/deploy.
deploy-tools:
	@command -v docker-compose >/dev/null || apt-get install -y -q docker-compose >/dev/null \
		|| echo "could not install docker-compose (Debian package); the compose checks will fail until it is installed"

# Debian's chromium: tests/e2e/test_docs_browser.py drives the Swagger UI in it through playwright
# (requirements-dev.txt). Not `playwright install`: that downloads a browser build from outside any
# package registry, which a machine limited to the registries cannot do.
browser-tools:
	@command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium) >/dev/null \
		|| echo "could not install chromium (Debian package); the Swagger UI browser test will fail until it is installed"

# The official AsyncAPI JSON schemas (npm's @asyncapi/specs, pinned; no PyPI package ships them):
# tests/contracts validates the generated /asyncapi.json against the 3.0.0 one.
ASYNCAPI_SPECS_VERSION := 6.11.1
ASYNCAPI_SPECS := $(VENV)/asyncapi-specs
contract-tools: $(ASYNCAPI_SPECS)/package.json

$(ASYNCAPI_SPECS)/package.json: | $(VENV)/.installed
	@command -v npm >/dev/null || apt-get install -y -q npm >/dev/null \
		|| echo "could not install npm (Debian package); the AsyncAPI schema check will fail until it is installed"
	@rm -rf $(ASYNCAPI_SPECS) && mkdir -p $(ASYNCAPI_SPECS)
	npm pack --silent --pack-destination $(ASYNCAPI_SPECS) @asyncapi/specs@$(ASYNCAPI_SPECS_VERSION) >/dev/null
	tar -xzf $(ASYNCAPI_SPECS)/asyncapi-specs-$(ASYNCAPI_SPECS_VERSION).tgz -C $(ASYNCAPI_SPECS) --strip-components=1
	@rm $(ASYNCAPI_SPECS)/asyncapi-specs-$(ASYNCAPI_SPECS_VERSION).tgz

preflight: install
	@$(BIN)/python -m tally_shared.db.preflight "$(AUTH_DATABASE_URL)" "$(TALLY_AMQP_URL)"

database: preflight
	@$(BIN)/python -m tally_shared.db.setup $(DATABASE_URLS)

migrate: database
	@set -e; for component in $(MIGRATED); do echo "migrating $$component"; (cd $$component && $(CURDIR)/$(BIN)/alembic upgrade head); done

run: migrate
	@echo
	@echo "Tally is starting (Ctrl-C stops everything):"
	@echo "  API and Swagger UI  http://$(GATEWAY_HOST):8000/docs"
	@echo "  gateway health      http://$(GATEWAY_HOST):8000/readyz"
	@echo "  services (internal) auth :8001, posts :8002, votes :8003 ($(REPLICAS) of each; more on +10, +20, ...)"
	@echo
	@mkdir -p var && $(BIN)/python tools/procfile.py $(REPLICAS) > var/Procfile
	@# -e /dev/null: a .env written for docker compose must not leak into the local processes.
	@$(BIN)/honcho start -f var/Procfile -d . -e /dev/null

# Each package's tests run on their own (each has its own conftest); the test
# database is dropped first and last, so no run sees another's data.
test: preflight deploy-tools browser-tools contract-tools
	@$(BIN)/python -m tally_shared.db.setup --drop $(TEST_DATABASE_URLS) >/dev/null
	@status=0; \
	echo "== ruff, mypy"; $(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy || status=1; \
	for suite in $(foreach p,$(PACKAGES),$(p)/tests) tests/contracts tests/tracing tests/e2e tests/deploy; do \
		echo "== $$suite"; $(PYTEST) $$suite || status=1; \
	done; \
	$(BIN)/python -m tally_shared.db.setup --drop $(TEST_DATABASE_URLS) >/dev/null; \
	exit $$status

# Recomputes counts from the votes service's truth, against the running stack;
# schedule it with cron, or run `python -m posts.reconcile --every 3600`.
reconcile: install
	@$(BIN)/python -m posts.reconcile

bench: install
	@command -v wrk >/dev/null || apt-get install -y -q wrk
	@$(BIN)/python -m bench

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) var
