# Two commands do all set-up on a fresh machine (Python >= 3.11 and the package registry):
#   make demo   — create .venv, install vecnest, index the bundled arXiv sample, run searches
#   make test   — create .venv, install vecnest with test extras, run the whole test suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test chromium soak bench bench-peers bench-peers-1m bench-effort bench-ingest bench-concurrent bench-coldstart bench-effort-learning bench-hybrid bench-compress bench-all bench-smoke clean

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

test: $(VENV)/.stamp-dev chromium
	$(BIN)/python -m pytest -q --durations=15 -m "not soak"

# the web page's test drives Debian's chromium through Playwright (never Playwright's own browser)
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

# long proofs (figures written by code into RELIABILITY.md): the store's >= 100 kill -9, minutes
# of checked cross-process reads and races (benchmarks/soak.py); then 100 SIGKILLs of the server
# during writes, timing-sensitive concurrency and the server load benchmark (against Chroma's
# server: the bench extra)
soak: $(VENV)/.stamp-bench
	$(BIN)/python benchmarks/soak.py
	VECNEST_SERVER_KILLS=100 VECNEST_RELIABILITY_OUT=benchmarks/results/reliability \
		$(BIN)/python -m pytest -q -s -m "soak or slow" tests/integration/test_server_crash.py tests/integration/test_server_concurrency.py
	$(BIN)/python benchmarks/server_load.py --peers chroma --out benchmarks/results/reliability
	$(BIN)/python benchmarks/reliability_report.py benchmarks/results/reliability RELIABILITY.md

# Benchmarks (run on a quiet machine; each writes benchmarks/results/<name>.json and regenerates
# BENCHMARKS.md, which lists these commands and their durations). Extra options: ARGS="...",
# e.g. make bench-peers-1m ARGS="--point-budget-min 150"
bench: $(VENV)/.stamp-dev
	$(BIN)/python benchmarks/core.py $(ARGS)

bench-peers: $(VENV)/.stamp-bench
	$(BIN)/python benchmarks/peers.py --points scifact,arxiv-75k $(ARGS)

bench-peers-1m: $(VENV)/.stamp-bench
	$(BIN)/python benchmarks/peers.py --points arxiv-1m $(ARGS)

bench-effort: $(VENV)/.stamp-bench
	$(BIN)/python benchmarks/equal_effort.py $(ARGS)

bench-ingest: $(VENV)/.stamp-bench
	$(BIN)/python benchmarks/ingest_add.py $(ARGS)

bench-concurrent: $(VENV)/.stamp-bench
	$(BIN)/python benchmarks/search_during_ingest.py $(ARGS)
	$(BIN)/python benchmarks/search_during_ingest.py --unpaced $(ARGS)

bench-coldstart: $(VENV)/.stamp-bench
	$(BIN)/python benchmarks/cold_start.py $(ARGS)

bench-effort-learning: $(VENV)/.stamp-bench
	$(BIN)/python benchmarks/effort_learning.py $(ARGS)

bench-hybrid: $(VENV)/.stamp-dev
	$(BIN)/python benchmarks/hybrid.py $(ARGS)

bench-compress: $(VENV)/.stamp-dev
	$(BIN)/python benchmarks/compress.py $(ARGS)

bench-all: bench bench-peers bench-peers-1m bench-effort bench-ingest bench-concurrent bench-coldstart bench-effort-learning bench-hybrid bench-compress

# smoke runs of every benchmark (small data, few repetitions) into a scratch folder; BENCHMARKS.md untouched
SMOKE ?= /tmp/vecnest-bench-smoke
bench-smoke: $(VENV)/.stamp-bench
	mkdir -p $(SMOKE)
	$(BIN)/python benchmarks/peers.py --quick --systems vecnest,vecnest-hnsw,faiss-hnsw-fp16,faiss-flat,hnswlib --out-dir $(SMOKE) --no-report
	$(BIN)/python benchmarks/equal_effort.py --quick --out $(SMOKE)/equal-effort.json --no-report
	$(BIN)/python benchmarks/ingest_add.py --quick --out $(SMOKE)/ingest-add.json --no-report
	$(BIN)/python benchmarks/search_during_ingest.py --quick --out $(SMOKE)/search-during-ingest.json --no-report
	$(BIN)/python benchmarks/cold_start.py --quick --out $(SMOKE)/cold-start.json --no-report
	$(BIN)/python benchmarks/report.py --results $(SMOKE) --out $(SMOKE)/BENCHMARKS.md

clean:
	rm -rf .demo .pytest_cache .hypothesis
