# Two commands a new user needs: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE ?= 1

.PHONY: install lint demo test test-fast bench docs results clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, pinned: an unpinned torch would pull a multi-GB CUDA build on CPU machines
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[test,harness]"
	touch $(STAMP)

install: $(STAMP)

demo: install  ## the main job on built-in data: vectors, layer sweep, baselines, analyses, report -> runs/demo
	$(BIN)/mlsteer run demo

lint: install  ## formatting and lint (ruff, pinned); part of `make test`
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

test: lint  ## lint, unit tests (tiny models), integration tests (embedded Gemma) and the notebooks (nbmake)
	$(BIN)/python -m pytest -q --durations=10 --nbmake --nbmake-timeout=900 tests notebooks

test-fast: install  ## unit tests only
	$(BIN)/python -m pytest -q -m "not integration"

bench: install  ## speed benchmarks (~50 min on 2 cores, most of it bench_scoring's M3Exam); results go to BENCHMARKS.md
	cd bench && ../$(BIN)/python bench_foundation.py
	cd bench && ../$(BIN)/python bench_bipo.py
	cd bench && ../$(BIN)/python bench_scoring.py
	cd bench && ../$(BIN)/python token_langid.py
	# the peers, pinned around what is installed: torch, transformers, transformer-lens, accelerate stay as they are
	$(BIN)/python -m pip freeze | grep -iE '^(torch|transformers|transformer-lens|accelerate)==' > $(VENV)/bench-constraints.txt
	$(BIN)/python -m pip install -q -c $(VENV)/bench-constraints.txt -e ".[bench]"
	$(BIN)/python -m pip install -q --no-deps steering-vectors==0.12.2
	cd bench && ../$(BIN)/python bench_peers.py

DOCS_STAMP := $(VENV)/.docs-installed
$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install -q -e ".[test,docs]"
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)  ## run the example gallery (examples whose source changed; FORCE=1 reruns all), build site/ offline
	$(BIN)/python docs/gallery_build.py $(if $(FORCE),--force)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

results: install  ## the results run on the shared benchmarks (resumable), then docs/results.md from it
	$(BIN)/mlsteer run paper --data-dir $${MLSTEER_DATA:-../shared/data} --out runs/paper
	$(BIN)/python -m mlsteer.experiment.results_page runs/paper docs/results.md

clean:
	rm -rf $(VENV) .pytest_cache runs site docs/gallery
