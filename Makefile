# Everything a fresh clone needs: python3 (with venv) and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo centre-demo test check setup clean

demo: $(STAMP)  ## set up, then play the household demo
	$(BIN)/telecare demo

centre-demo: $(STAMP)  ## set up, then play the monitoring centre's demo (needs nats-server, postgresql)
	PATH="$$PATH:/usr/sbin" $(BIN)/telecare centre demo

test: check  ## set up, lint, type-check, run the whole test suite
	$(BIN)/pytest

check: $(STAMP)  ## lint and type-check only
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
