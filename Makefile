# cairn: `make demo` runs the whole workflow on a bundled example,
# `make test` runs lint, type checks and the test suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR ?= demo

.PHONY: demo test lint typecheck pytest clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[all]'
	touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[test]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/python examples/demo.py $(DEMO_DIR)
	$(BIN)/cairn run $(DEMO_DIR)/cairn.toml
	@echo
	@echo "Outputs: $(DEMO_DIR)/.cairn/runs/ (bundle, leaderboard, reports), MLflow store $(DEMO_DIR)/.cairn/mlflow.db"
	@echo "Score new rows: $(BIN)/cairn predict $$(ls -d $(DEMO_DIR)/.cairn/runs/*/bundle | tail -1) $(DEMO_DIR)/breast_cancer.csv -o $(DEMO_DIR)/predictions.csv"

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

pytest: $(VENV)/.installed-test
	-bash scripts/ensure-postgres.sh
	-bash scripts/ensure-chromium.sh
	$(BIN)/pytest

test: lint typecheck pytest

clean:
	rm -rf $(VENV) $(DEMO_DIR) .mypy_cache .ruff_cache .pytest_cache
