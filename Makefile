# Two commands do all set-up on a fresh machine (Python >= 3.11 and the package registry):
#   make demo   — create .venv, install vecnest, index the bundled arXiv sample, run searches
#   make test   — create .venv, install vecnest with test extras, run the whole test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test soak bench bench-peers clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.stamp-base: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.stamp-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@ $(VENV)/.stamp-base

$(VENV)/.stamp-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[dev,bench]"
	touch $@ $(VENV)/.stamp-dev $(VENV)/.stamp-base

demo: $(VENV)/.stamp-base
	$(BIN)/vecnest demo

test: $(VENV)/.stamp-dev
	$(BIN)/python -m pytest -q --durations=15

# the long reliability proofs (>= 100 kill -9, minutes of checked reads, races); writes RELIABILITY.md
soak: $(VENV)/.stamp-dev
	$(BIN)/python benchmarks/soak.py

bench: $(VENV)/.stamp-dev
	$(BIN)/python benchmarks/core.py

bench-peers: $(VENV)/.stamp-bench
	$(BIN)/python benchmarks/peers.py --all

clean:
	rm -rf .demo .pytest_cache .hypothesis
