# Two commands set up everything on a fresh machine:
#   make story   - install Novel Engine in .venv and run a story
#   make test    - install it with the test extras and pass the whole test suite
#   make notebooks - execute notebooks/ and save them with their outputs (commit the result)
# the interpreter .venv is made from: a static CPython 3.11-3.13 if any, else the first (tools/pick-python)
PYTHON ?= $(shell tools/pick-python)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TSTAMP := $(VENV)/.installed-test
NSTAMP := $(VENV)/.installed-notebooks

.PHONY: story test system-deps lint bench notebooks clean web web-test

# The web app (web/): Node packages from the committed lockfile, API types from the app's OpenAPI
# schema, built into serve_app/webapp (package data, not committed). Its e2e tests run in Debian's
# chromium (/usr/bin/chromium); Playwright never downloads a browser.
NPM_STAMP := web/node_modules/.installed
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(TSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(STAMP)

$(NSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[notebooks]'
	touch $@ $(STAMP)

story: $(STAMP)
	$(BIN)/novel-engine run fantasy_world --turns 10 --seed 7

# lint and the web app's tests first, so that pytest's summary closes the output
test: system-deps $(TSTAMP) lint web
	$(MAKE) web-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# chromium, epubcheck, promtool (apt-get as root, else it says what to install) and kubectl
system-deps:
	tools/system-deps

# Ruff: lint and format, configured in pyproject.toml (`ruff format .` fixes the format)
lint: $(TSTAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

$(NPM_STAMP): web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $@

web: $(NPM_STAMP) $(STAMP)
	$(BIN)/python web/scripts/dump_openapi.py build/openapi.json
	cd web && npx openapi-typescript ../build/openapi.json -o src/api/schema.d.ts
	cd web && npm run build

web-test: $(NPM_STAMP)
	cd web && npx vitest run
	cd web && NOVEL_ENGINE_BIN=$(CURDIR)/$(BIN)/novel-engine npx playwright test

notebooks: $(NSTAMP)
	$(BIN)/python tools/run_notebooks.py

bench: $(STAMP)
	$(BIN)/novel-engine bench core --personas 100,1000,10000,100000 --turns 3

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache serve_app/webapp web/node_modules web/test-results
