# Set-up, demo and tests on a machine with only Python 3.11.
# `uv` (installed into .tools/) installs the locked dependencies into .venv/.

PYTHON ?= python3.11
UV_VERSION := 0.13.9
TOOLS := .tools
VENV := .venv
UV := $(TOOLS)/bin/uv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: setup tables demo test lint typecheck check bench bench-cost bench-scale bench-queue bench-cases bench-cli bench-report bench-audit bench-review bench-relay bench-base bench-faces clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# The project is installed as a wheel (not editable), so the tests and the commands run what a user
# installs; it is rebuilt whenever a file of its packages changes.
PACKAGE_FILES := $(shell find scanner checks notices -type f -not -name '*.pyc' 2>/dev/null)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock $(PACKAGE_FILES)
	$(UV) sync --frozen --no-editable --reinstall-package realname-scanner --compile-bytecode --python $(PYTHON) --quiet
	touch $@

setup: $(VENV)/.synced

# scanner/tables.py (the tables as SQLAlchemy Core) is generated from scanner/models.py (the working
# tree's, run from here): run it after changing a model; a test fails until then.
tables: setup
	$(VENV)/bin/python -m scanner.tablegen scanner/tables.py

demo: setup
	$(VENV)/bin/realname demo

test: setup
	$(VENV)/bin/pytest -q

lint: setup
	$(VENV)/bin/ruff check scanner checks notices tests fixtures bench examples docs
	$(VENV)/bin/ruff format --check scanner checks notices tests fixtures bench examples docs

typecheck: setup
	$(VENV)/bin/mypy

check: lint typecheck test

bench: setup
	$(VENV)/bin/python bench/foundation.py

bench-cost: setup
	$(VENV)/bin/python bench/checks_cost.py

bench-scale: setup
	$(VENV)/bin/python bench/rescan_scale.py

bench-queue: setup
	$(VENV)/bin/python bench/queue_load.py

bench-relay: setup
	$(VENV)/bin/python bench/relay_kannel.py

bench-base: setup
	$(VENV)/bin/python bench/base_signals.py

bench-faces: setup
	$(VENV)/bin/python bench/face_index.py --faces 100000 --exact --sweep
	$(VENV)/bin/python bench/face_index.py --faces 1000000

bench-cases: setup
	$(VENV)/bin/python bench/cases_advance.py

bench-cli: setup
	$(VENV)/bin/python bench/cli_latency.py

# About 25 minutes: generating the million-subscriber base takes most of it.
bench-report: setup
	$(VENV)/bin/python bench/report_scale.py --sizes 100000 1000000

bench-audit: setup
	$(VENV)/bin/python bench/audit_verify.py

bench-review: setup
	$(VENV)/bin/python bench/review_queue.py
	$(VENV)/bin/python bench/review_web.py

clean:
	rm -rf $(VENV) $(TOOLS) demo realname.db
