# The README's commands. Each creates .venv when it is missing and installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STACK ?= dev
STAMP := $(VENV)/.installed
CHECKOV_VENV ?= .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

.PHONY: preview manifests test lint typecheck pytest checkov serve bench bench-plan bench-profile preflight clean proto bench-grpc

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

## Read-only boto3 checks against the real account before `pulumi up` (STACK=prod make preflight).
## ARGS="--model-bucket NAME" also checks that the model is in an existing bucket.
preflight: $(STAMP)
	$(BIN)/python -m components.offline.preflight --stack $(STACK) $(ARGS)

## Wall time of the prod offline plan beside the bare SDK import time (not a test).
bench-plan: $(STAMP)
	$(BIN)/python bench/plan_speed.py

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

## The side-by-side serving benchmark (issue 7); by hand, never in CI. Writes bench/results.md.
## BENCH_DURATION=<seconds per wrk run> (default 10) shortens or lengthens it.
BENCH_WORK := bench/.work
BENCH_VENVS := $(BENCH_WORK)/venvs

# One venv per peer: MLServer's and KServe's pins conflict with each other and with ours.
$(BENCH_VENVS)/%/.installed: bench/requirements-%.txt
	rm -rf $(BENCH_VENVS)/$*
	$(PYTHON) -m venv $(BENCH_VENVS)/$*
	$(BENCH_VENVS)/$*/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENVS)/$*/bin/python -m pip install --quiet -r $<
	@touch $@

$(BENCH_WORK)/models/.built: bench/build_models.py $(BENCH_VENVS)/models/.installed
	$(BENCH_VENVS)/models/bin/python bench/build_models.py --out $(BENCH_WORK)/models
	@touch $@

bench: $(STAMP) $(BENCH_VENVS)/mlserver/.installed $(BENCH_VENVS)/kserve/.installed $(BENCH_WORK)/models/.built
	@command -v wrk >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update && $$SUDO apt-get install -y wrk; }
	$(BIN)/python bench/run.py
	$(MAKE) bench-grpc

## gRPC (ours, a bare grpc.aio floor, KServe's) with h2load, and binary REST with wrk (issue 16).
## Part of `make bench`; alone after it has built the models and venvs. Writes bench/results-grpc.md.
bench-grpc: $(STAMP) $(BENCH_VENVS)/kserve/.installed $(BENCH_WORK)/models/.built
	@command -v h2load >/dev/null && command -v wrk >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update && $$SUDO apt-get install -y nghttp2-client wrk; }
	$(BIN)/python bench/grpc_run.py

## py-spy and GC counts for our server under wrk load (after `make bench`): where the time goes.
## PROFILE_CONNECTIONS, PROFILE_BATCHING=on|off, PROFILE_MODEL=small|heavy, PROFILE_SECONDS.
bench-profile: $(STAMP) $(BENCH_VENVS)/tools/.installed $(BENCH_WORK)/models/.built
	$(BIN)/python bench/profile_server.py

## Regenerate serving/proto's Python modules from grpc_predict_v2.proto (committed; run after
## editing the .proto). grpcio-tools 1.71 is the last that emits protobuf-5 gencode, which the
## protobuf 5.29 that pulumi-policy pins can load; it gets a venv of its own.
PROTO_VENV ?= .venv-proto
proto:
	@test -x $(PROTO_VENV)/bin/python || $(PYTHON) -m venv $(PROTO_VENV)
	$(PROTO_VENV)/bin/python -m pip install --quiet "grpcio-tools==1.71.0"
	$(PROTO_VENV)/bin/python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. \
		--grpc_python_out=. serving/proto/grpc_predict_v2.proto
