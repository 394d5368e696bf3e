# gaugemesh: every target works on a fresh machine with nothing but Python installed.
PYTHON ?= python3
TORCH_VERSION ?= 2.13.0
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test bench bench-geometry demo clean

# Torch is pinned so that no resolver pulls a multi-GB CUDA build by accident.
$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "torch==$(TORCH_VERSION)"
	$(PY) -m pip install --quiet -e ".[test]" "torch==$(TORCH_VERSION)"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q tests

bench-geometry: $(STAMP)
	$(PY) experiments/bench/geometry.py

bench: bench-geometry

clean:
	rm -rf $(VENV) build *.egg-info
