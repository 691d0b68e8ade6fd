# The README's commands. `make test` sets everything up from a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

MINIMAL := .venv-minimal
MINIMAL_STAMP := $(MINIMAL)/.installed

.PHONY: setup lint test test-minimal data-demo chapter bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[test,keras,gpu,ray]'
	touch $(STAMP)

# Only what the tests need: the Keras comparisons, the Triton kernels' and Ray's tests skip, saying why.
$(MINIMAL_STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(MINIMAL)
	$(MINIMAL)/bin/python -m pip install -q --upgrade pip
	$(MINIMAL)/bin/python -m pip install -q -c constraints.txt -e '.[test]'
	touch $(MINIMAL_STAMP)

setup: $(STAMP)

# Style: ruff's lint and format checks (configured in pyproject.toml); `ruff format` fixes the format.
lint: $(MINIMAL_STAMP)
	$(MINIMAL)/bin/ruff check src tests benchmarks
	$(MINIMAL)/bin/ruff format --check src tests benchmarks

# The test suite with every extra installed (what CI runs, after lint and test-minimal).
test: $(STAMP)
	$(PY) -m pytest -q

# The test suite with only `pip install -e '.[test]'`.
test-minimal: $(MINIMAL_STAMP)
	$(MINIMAL)/bin/python -m pytest -q

# Offline: write the synthetic dataset and describe it.
data-demo: $(STAMP)
	$(VENV)/bin/jenacast data synth --out data/synthetic.csv
	$(VENV)/bin/jenacast data info data/synthetic.csv

# The main job: the whole chapter, quick mode; works offline (the real data when cached or downloadable, else synthetic).
chapter: $(STAMP)
	$(VENV)/bin/jenacast chapter --quick --out chapter

bench: $(STAMP)
	$(PY) benchmarks/bench_data.py
	$(PY) benchmarks/bench_rnn_tiers.py

clean:
	rm -rf $(VENV) $(MINIMAL) .pytest_cache build *.egg-info src/*.egg-info
