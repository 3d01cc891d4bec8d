# Two commands a new user needs: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE ?= 1

.PHONY: install demo test test-fast bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: an unpinned torch would pull a multi-GB CUDA build on CPU machines
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: install  ## learn a vector on the embedded Gemma and show steered vs unsteered text
	$(BIN)/mlsteer demo

test: install  ## unit tests (tiny models) and integration tests (embedded Gemma)
	$(BIN)/python -m pytest -q --durations=10

test-fast: install  ## unit tests only
	$(BIN)/python -m pytest -q -m "not integration"

bench: install  ## speed benchmarks (~10 min on 2 cores); results go to BENCHMARKS.md
	cd bench && ../$(BIN)/python bench_foundation.py
	cd bench && ../$(BIN)/python bench_bipo.py
	cd bench && ../$(BIN)/python bench_scoring.py

clean:
	rm -rf $(VENV) .pytest_cache runs
