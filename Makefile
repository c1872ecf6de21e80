# The two commands a newcomer runs: `make demo` and `make test`. Both install what is missing first.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test deps lint typecheck imports unit bench clean

deps:
	@bash scripts/install-deps.sh

demo: deps
	$(VENV)/bin/cctv-demo

# Two workers, one module per worker at a time (its module-scoped servers are not shared across
# workers), modules taken in collection order (the longest first: LONGEST_FIRST in
# tests/conftest.py) rather than xdist's default, most tests first; PYTEST_WORKERS=0 runs in one
# process.
PYTEST_WORKERS ?= 2
XDIST := -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

test: deps lint typecheck imports
	$(PY) -m pytest -q $(XDIST)

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The layering contracts in pyproject.toml ([tool.importlinter]).
imports:
	$(VENV)/bin/lint-imports

typecheck:
	$(VENV)/bin/mypy edge_agent hub provisioning cctv_common cctv_onvif devkit tests bench

# Fast pure tests only (no RTSP server, broker or browser).
unit: deps
	$(PY) -m pytest -q $(XDIST) -m "not slow"

bench: deps
	$(PY) bench/cut.py

clean:
	rm -rf demo-data .pytest_cache .mypy_cache .ruff_cache
