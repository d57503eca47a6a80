# Two commands for a newcomer: `make run` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# A local MNIST mirror (the four .gz IDX files); when the folder exists it is used instead of
# downloading into the per-user cache. Override with `make run MNIST_MIRROR=/path`.
MNIST_MIRROR ?= ../shared/data/mnist
ifneq ($(wildcard $(MNIST_MIRROR)/train-images-idx3-ubyte.gz),)
export STRUCTROB_DATA ?= $(abspath $(MNIST_MIRROR))
endif
PRESET ?= quick
PYTEST_ARGS ?=

.PHONY: run test test-slow lint format bench clean

$(BIN)/.installed: pyproject.toml setup.py constraints.txt src/structrob/_native.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/structrob run --preset $(PRESET)

test: $(BIN)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(BIN)/.installed
	$(BIN)/ruff format src tests benchmarks

test-slow: $(BIN)/.installed
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

bench: $(BIN)/.installed
	$(BIN)/python benchmarks/bench_train.py
	$(BIN)/python benchmarks/bench_attacks.py
	$(BIN)/python benchmarks/bench_deepstruct.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info src/structrob/*.so
