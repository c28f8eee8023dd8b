# Every target creates .venv on first use; running a target twice does no work twice.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit venv clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# CPU build first (it is on these machines' disk); the project's torch>=2.1 then installs nothing more.
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/interhandgen sample --num 16 --seed 0 --out out/demo
	@echo "wrote out/demo/samples.npz, out/demo/preview.png and one PLY per sample"

lint: $(STAMP)
	$(BIN)/ruff check interhandgen_core tests training
	$(BIN)/ruff format --check interhandgen_core tests training

typecheck: $(STAMP)
	$(BIN)/mypy interhandgen_core

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests

test: lint typecheck unit

clean:
	rm -rf out .pytest_cache .mypy_cache .ruff_cache
