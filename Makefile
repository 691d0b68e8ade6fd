# The README's commands. `make test` sets everything up from a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup test data-demo chapter bench clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[test,keras,gpu]'
	touch $(STAMP)

setup: $(STAMP)

# The test suite (fast; what CI runs).
test: $(STAMP)
	$(PY) -m pytest -q

# Offline: write the synthetic dataset and describe it.
data-demo: $(STAMP)
	$(VENV)/bin/jenacast data synth --out data/synthetic.csv
	$(VENV)/bin/jenacast data info data/synthetic.csv

# The main job: the whole chapter, quick mode, offline (synthetic data unless the real data is cached).
chapter: $(STAMP)
	$(VENV)/bin/jenacast chapter --quick --out chapter

bench: $(STAMP)
	$(PY) benchmarks/bench_data.py
	$(PY) benchmarks/bench_rnn_tiers.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info src/*.egg-info
