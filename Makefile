# The README's commands. Each creates .venv when it is missing and installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STACK ?= dev
STAMP := $(VENV)/.installed
CHECKOV_VENV ?= .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

.PHONY: preview manifests test lint typecheck pytest checkov serve bench preflight clean

$(STAMP): requirements.txt requirements-serving.txt requirements-dev.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

## The offline plan of a stack (STACK=dev by default): no AWS account, no Pulumi CLI.
preview: $(STAMP)
	$(BIN)/python -m components.offline.preview --stack $(STACK)

## The stack's Kubernetes objects as YAML in build/$(STACK)/manifests (kubectl apply -f).
manifests: $(STAMP)
	$(BIN)/python -m components.offline.manifests --stack $(STACK)

## Lint, type-check and test everything; .ci/run calls exactly this.
test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) $(CHECKOV_STAMP)
	$(BIN)/pytest -q

## checkov in its own venv (its pins conflict with ours); the manifest scan test runs it.
checkov: $(CHECKOV_STAMP)

$(CHECKOV_STAMP): requirements-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	@touch $(CHECKOV_STAMP)

## Serve the bundled demo model on :8080, offline (SIGTERM or Ctrl+C drains, then stops).
serve: $(STAMP)
	SERVING_MODEL_REPOSITORY=models/iris/1 SERVING_MODEL_NAME=iris $(BIN)/python -m serving

clean:
	rm -rf build .mypy_cache .ruff_cache .pytest_cache .hypothesis
