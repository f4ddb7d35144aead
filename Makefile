# The two commands a newcomer needs are `make run` and `make test` (see README.md).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed-$(shell sha256sum requirements.lock 2>/dev/null | cut -c1-12)
export PYTHONPATH := $(CURDIR)

.PHONY: setup run train test lint lock clean db seed bench-nlu bench-load bench-faults web run-prod

# The web widget (web/): `npm ci` when the lock file changes, a build when a source changes.
WEB_SOURCES := web/package.json web/build.mjs $(wildcard web/src/*) $(wildcard web/agent/*)

setup: $(STAMP) web/dist/.built

web: web/dist/.built

web/node_modules/.installed: web/package-lock.json
	@command -v npm >/dev/null || { echo "The web widget needs Node.js 18+ with npm (apt-get install nodejs npm)." >&2; exit 1; }
	cd web && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

web/dist/.built: web/node_modules/.installed $(WEB_SOURCES)
	cd web && npm run --silent build
	@touch $@

$(STAMP): requirements.lock
	@py=$$(scripts/find-python310) || exit 1; \
	if [ ! -x $(PY) ]; then echo "Creating $(VENV) with $$py"; $$py -m venv $(VENV) || exit 1; fi
	@$(PY) -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(VENV)/bin/uv pip sync --python $(PY) requirements.lock
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

lock:
	@$(PY) -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(VENV)/bin/uv pip compile --python-version 3.10 requirements.in -o requirements.lock

db: setup
	$(PY) -m bot db upgrade

seed: db
	$(PY) -m bot seed-demo --if-empty

train: setup
	@scripts/train-if-stale models

run: seed
	@scripts/run.sh

# The production topology on this machine (docs/deployment.md): PostgreSQL, Redis, RabbitMQ, several
# Rasa processes, the action server's workers and the metrics consumer behind nginx.
# BOT_ENV=production with real secrets, or PROD_DEMO=1 to try it with development secrets and demo data.
run-prod: setup
	@scripts/run-prod.sh

test: setup
	@scripts/test.sh

lint: setup
	$(VENV)/bin/uv tool run ruff@0.8.4 check bot actions tests bench
	$(VENV)/bin/uv tool run mypy@1.13.0 --python-executable $(PY) bot actions
	$(VENV)/bin/lint-imports --no-cache

clean:
	rm -rf $(VENV) models var .pytest_cache test-artifacts web/dist web/node_modules

bench-nlu: setup
	@source scripts/env.sh && $(PY) bench/nlu.py --save $(ARGS)

# The production topology under load, against the stock `rasa init` bot (bench/load.py; about 12 min).
# Needs nginx (PROD_INSTALL_NGINX=1 installs it), PostgreSQL, Redis and RabbitMQ; prints JSON.
bench-load: setup
	@source scripts/env.sh && $(PY) bench/load.py $(ARGS)

# Faults in the production topology (bench/faults.py; about 5 min): kills a Rasa process and the
# action server, restarts this machine's PostgreSQL and Redis (started again afterwards); prints JSON.
bench-faults: setup
	@source scripts/env.sh && $(PY) bench/faults.py $(ARGS)
