# The two set-up commands of the README. Both work on a fresh clone.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: demo test install services lint bench

demo: install  ## install into .venv and run the whole system on embedded defaults
	$(BIN)/skincare-workers demo

test: install services  ## install, start PostgreSQL/Redis/ClamAV if needed, run every test
	$(BIN)/python -m pytest

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

services:  ## check the real services the tests use; start or install what is missing
	bash .ci/services

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

bench: install  ## benchmarks: each prints its ratios against the bare library, same run
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done
