# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev
BENCHSTAMP := $(VENV)/.installed-bench
# Compiled by setup.py when a C compiler is at hand: a change to one of them reinstalls, which rebuilds.
COMPILED := feeds/classify.py feeds/normalize.py feeds/parse.py feeds/stories.py feeds/textnorm.py

.PHONY: demo test lint typecheck unit bench bench-quick clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml setup.py $(COMPILED) | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEVSTAMP): pyproject.toml setup.py $(COMPILED) | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP) $@

$(BENCHSTAMP): pyproject.toml setup.py $(COMPILED) | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $(STAMP) $(DEVSTAMP) $@

demo: $(STAMP)
	$(BIN)/diplowatch demo

lint: $(DEVSTAMP)
	$(BIN)/ruff check bot feeds storage tests bench setup.py
	$(BIN)/mypy bot feeds storage tests bench

unit: $(DEVSTAMP)
	$(BIN)/pytest

test: lint unit

bench: $(BENCHSTAMP)
	$(BIN)/python -m bench

bench-quick: $(BENCHSTAMP)
	$(BIN)/python -m bench --quick

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache demo-state build
	rm -f feeds/*.so *.so
