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

.PHONY: story test bench notebooks clean

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

test: $(TSTAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

notebooks: $(NSTAMP)
	$(BIN)/python tools/run_notebooks.py

bench: $(STAMP)
	$(BIN)/novel-engine bench core --personas 100,1000,10000,100000 --turns 3

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
