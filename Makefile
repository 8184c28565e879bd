# Two entry points: `make demo` (the main job on a built-in default) and `make test`.
# Both create or reuse a local virtual environment in .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CHECKED := ntk_nas search_spaces scorers experiments

.PHONY: demo test test-slow lint bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# A short search over NAS-Bench-201 cells (reduced network) on the bundled CIFAR-10 images.
DEMO_OUT ?= ntk-nas-demo
demo: $(VENV)/.installed
	$(BIN)/ntk-nas search --space nb201 --trials 30 --scorer ntk_cond:repeats=1 \
		--build C=8 --build N=1 --batch-size 16 --study demo --out $(DEMO_OUT)

lint: $(VENV)/.installed
	$(BIN)/ruff check $(CHECKED) tests
	$(BIN)/ruff format --check $(CHECKED) tests
	$(BIN)/mypy ntk_nas search_spaces scorers

test: lint
	$(BIN)/python -m pytest

test-slow: $(VENV)/.installed
	$(BIN)/python -m pytest -m slow

bench: $(VENV)/.installed
	$(BIN)/python experiments/bench_ntk.py
