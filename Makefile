# The two commands a newcomer runs: `make demo` and `make test`. Both install what is missing first.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test deps lint typecheck unit bench clean

deps:
	@bash scripts/install-deps.sh

demo: deps
	$(VENV)/bin/cctv-demo

test: deps lint typecheck
	$(PY) -m pytest -q

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck:
	$(VENV)/bin/mypy edge_agent hub provisioning cctv_common devkit tests bench

# Fast pure tests only (no RTSP server, broker or browser).
unit: deps
	$(PY) -m pytest -q -m "not slow"

bench: deps
	$(PY) bench/cut.py

clean:
	rm -rf demo-data .pytest_cache .mypy_cache .ruff_cache
