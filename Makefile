# The README's commands. Each creates .venv when it is missing and installs what it needs,
# from the hashed lock files (`make lock` refreshes them from the *.txt ranges).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STACK ?= dev
CHECKOV_VENV ?= .venv-checkov
# Each step prints what it runs, passes the output through, and says "still running"
# when a command is quiet for 5 s (pip's install phase, a cold mypy).
STEP := $(PYTHON) scripts/step.py
# Exact versions with hashes, nothing else: --no-deps, because the lock lists every package.
PIP_LOCKED := -m pip install --disable-pip-version-check --require-hashes --no-deps
# Two stamped layers in one .venv: the program's lock is all `make preview` (and `pulumi
# up`) needs; `make test` adds the test toolchain's lock (a superset, same versions).
PROGRAM_STAMP := $(VENV)/.installed-program
TEST_STAMP := $(VENV)/.installed-test
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
LOCK_TOOLS ?= .venv-lock
UV_VERSION ?= 0.13.9

.PHONY: preview manifests test lint typecheck pytest checkov serve bench bench-plan bench-profile bench-overload \
	preflight prices catalog clean lock proto bench-grpc

$(BIN)/python:
	@$(STEP) "creating $(VENV) (Python 3.11+)" -- $(PYTHON) -m venv $(VENV)

$(PROGRAM_STAMP): requirements.lock | $(BIN)/python
	@$(STEP) "installing the program's packages (requirements.lock) into $(VENV)" -- \
		$(BIN)/python $(PIP_LOCKED) -r requirements.lock
	@touch $@

$(TEST_STAMP): requirements-dev.lock $(PROGRAM_STAMP)
	@$(STEP) "installing the test toolchain (requirements-dev.lock) into $(VENV)" -- \
		$(BIN)/python $(PIP_LOCKED) -r requirements-dev.lock
	@touch $@

## The offline plan of a stack (STACK=dev by default): no AWS account, no Pulumi CLI.
## make's own exit status is 2 for any failure; for the plan's codes (1: a mandatory policy
## fails, 2: bad config or missing price) run `.venv/bin/python -m components.offline.preview`.
## PROJECT=path/to/another/project previews any program built from these components.
PROJECT ?= .
preview: $(PROGRAM_STAMP)
	$(BIN)/python -m components.offline.preview --project-dir $(PROJECT) --stack $(STACK) $(ARGS)

## The stack's Kubernetes objects as YAML in build/$(STACK)/manifests (kubectl apply -f).
## OUTPUTS=file.json (from `pulumi stack output --json > file.json`) fills in the real bucket,
## image repository and role; without it every placeholder is marked in the YAML.
OUTPUTS ?=
manifests: $(PROGRAM_STAMP)
	$(BIN)/python -m components.offline.manifests --stack $(STACK) \
		$(if $(OUTPUTS),--stack-outputs $(OUTPUTS)) $(ARGS)

## Read-only boto3 checks against the real account before `pulumi up` (STACK=prod make preflight).
## ARGS="--model-bucket NAME" also checks that the model is in an existing bucket.
preflight: $(TEST_STAMP)
	$(BIN)/python -m components.offline.preflight --stack $(STACK) $(ARGS)

## Refresh components/core/data/prices.json from the AWS Price List API, every commercial
## region (AWS credentials needed; read-only pricing:GetProducts).
prices: $(STAMP)
	$(BIN)/python scripts/gen_prices.py aws

## Refresh components/core/data/instances.json from ec2:DescribeInstanceTypes (credentials).
catalog: $(STAMP)
	$(BIN)/python scripts/gen_catalog.py aws --region $${AWS_REGION:-us-east-1}

## Wall time of the prod offline plan beside the bare SDK import time (not a test).
bench-plan: $(PROGRAM_STAMP)
	$(BIN)/python bench/plan_speed.py

## Lint, type-check and test everything; .ci/run calls exactly this.
test: lint typecheck pytest

lint: $(TEST_STAMP)
	@$(STEP) "ruff check" -- $(BIN)/ruff check .
	@$(STEP) "ruff format --check" -- $(BIN)/ruff format --check .

typecheck: $(TEST_STAMP)
	@$(STEP) "mypy --strict" -- $(BIN)/mypy

pytest: $(TEST_STAMP) $(CHECKOV_STAMP)
	@$(STEP) "pytest" -- $(BIN)/pytest -q

## checkov in its own venv (its pins conflict with ours); the manifest scan test runs it.
checkov: $(CHECKOV_STAMP)

$(CHECKOV_STAMP): requirements-checkov.lock
	@test -x $(CHECKOV_VENV)/bin/python || $(STEP) "creating $(CHECKOV_VENV)" -- \
		$(PYTHON) -m venv $(CHECKOV_VENV)
	@$(STEP) "installing checkov (requirements-checkov.lock) into $(CHECKOV_VENV)" -- \
		$(CHECKOV_VENV)/bin/python $(PIP_LOCKED) -r requirements-checkov.lock
	@touch $(CHECKOV_STAMP)

## Refresh every lock from its ranges (requirements*.txt) after adding or bumping a package:
## the test toolchain first (it holds everything), then the program, the server image and
## checkov, each held to the toolchain's versions so the layers agree. Versions already in a
## lock are kept unless a range excludes them; UPGRADE=1 takes the newest allowed.
LOCK_COMPILE = $(LOCK_TOOLS)/bin/uv pip compile --quiet --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)
lock: $(LOCK_TOOLS)/bin/uv
	$(LOCK_COMPILE) requirements-dev.txt -o requirements-dev.lock
	$(LOCK_COMPILE) requirements.txt -c requirements-dev.lock -o requirements.lock
	$(LOCK_COMPILE) requirements-serving.txt -c requirements-dev.lock -o requirements-serving.lock
	$(LOCK_COMPILE) requirements-checkov.txt -o requirements-checkov.lock

$(LOCK_TOOLS)/bin/uv:
	$(PYTHON) -m venv $(LOCK_TOOLS)
	$(LOCK_TOOLS)/bin/python -m pip install --disable-pip-version-check uv==$(UV_VERSION)

## Serve the bundled demo model on :8080, offline (SIGTERM or Ctrl+C drains, then stops).
serve: $(TEST_STAMP)
	SERVING_MODEL_REPOSITORY=models/iris/1 SERVING_MODEL_NAME=iris $(BIN)/python -m serving

clean:
	rm -rf build .mypy_cache .ruff_cache .pytest_cache .hypothesis

## The side-by-side serving benchmark; by hand, never in CI. Writes bench/results.md.
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

bench: $(TEST_STAMP) $(BENCH_VENVS)/mlserver/.installed $(BENCH_VENVS)/kserve/.installed $(BENCH_WORK)/models/.built
	@command -v wrk >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update && $$SUDO apt-get install -y wrk; }
	$(BIN)/python bench/run.py
	$(MAKE) bench-grpc

## gRPC (ours, a bare grpc.aio floor, KServe's) with h2load, and binary REST with wrk (issue 16).
## Part of `make bench`; alone after it has built the models and venvs. Writes bench/results-grpc.md.
bench-grpc: $(TEST_STAMP) $(BENCH_VENVS)/kserve/.installed $(BENCH_WORK)/models/.built
	@command -v h2load >/dev/null && command -v wrk >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update && $$SUDO apt-get install -y nghttp2-client wrk; }
	$(BIN)/python bench/grpc_run.py

## Goodput past capacity (after `make bench` has built the models): our server on the heavy
## model at 64 connections, then 512 and 1,024 (OVERLOAD_CONNECTIONS, OVERLOAD_SECONDS).
bench-overload: $(TEST_STAMP) $(BENCH_WORK)/models/.built
	$(BIN)/python bench/overload.py

## py-spy and GC counts for our server under wrk load (after `make bench`): where the time goes.
## PROFILE_CONNECTIONS, PROFILE_BATCHING=on|off, PROFILE_MODEL=small|heavy, PROFILE_SECONDS.
bench-profile: $(TEST_STAMP) $(BENCH_VENVS)/tools/.installed $(BENCH_WORK)/models/.built
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
