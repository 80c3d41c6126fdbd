# The two commands of the README. Each installs what it needs, then runs.
#   make demo  -> install, then run the main job
#   make test  -> install (incl. system packages for reference tests), then the full test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	bash scripts/install-system-deps.sh
	$(BIN)/pip install --quiet -e '.[test]'

demo: install
	$(BIN)/myotrial score src/myotrial/data/example_visits.csv -o out/example_scored.csv

test: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest -q

bench: install
	$(BIN)/python benchmarks/bench_scoring.py
