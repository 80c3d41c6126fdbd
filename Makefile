# The two commands of the README. Each installs what it needs, then runs.
#   make demo  -> install, then run the main job
#   make test  -> install (incl. system packages for browser, PDF and PostgreSQL tests), then
#                 ruff, mypy and the full test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Debian packages: pango for WeasyPrint (PDF reports); chromium (browser tests, via Playwright,
# never a downloaded browser), poppler-utils (pdftoppm) and postgresql for the tests.
RUNTIME_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core
TEST_PACKAGES := $(RUNTIME_PACKAGES) chromium poppler-utils postgresql

.PHONY: install install-test demo test bench pg-stop

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	MYOTRIAL_SYSTEM_PACKAGES="$(RUNTIME_PACKAGES)" bash scripts/install-system-deps.sh
	$(BIN)/pip install --quiet -e '.[test]'

install-test: $(BIN)/python
	MYOTRIAL_SYSTEM_PACKAGES="$(TEST_PACKAGES)" bash scripts/install-system-deps.sh
	$(BIN)/pip install --quiet -e '.[test]'

demo: install
	$(BIN)/myotrial demo --out out/demo --force

test: install-test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	url=$$(bash scripts/start-postgres.sh) && \
	MYOTRIAL_TEST_POSTGRES_URL="$$url" MYOTRIAL_TEST_POSTGRES_REQUIRED=1 $(BIN)/pytest -q

pg-stop:
	bash scripts/start-postgres.sh stop

# Every benchmark (each prints its ratios and checks its outputs); with what make test installs.
bench: install-test
	$(BIN)/python benchmarks/bench_cli.py
	$(BIN)/python benchmarks/bench_scoring.py
	$(BIN)/python benchmarks/bench_validation.py
	$(BIN)/python benchmarks/bench_derive.py
	$(BIN)/python benchmarks/bench_report.py
	$(BIN)/python benchmarks/bench_demo.py
	$(BIN)/python benchmarks/bench_simulate.py
	url=$$(bash scripts/start-postgres.sh) && $(BIN)/python benchmarks/bench_web.py --postgres-url "$$url"
