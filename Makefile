# The project's commands. `make test` and `make demo` work on a fresh clone: they install what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := .make
CDK     := npx --no-install cdk --no-notices

# The CDK CLI must never reach the network; jsii must not print Node's end-of-life banner.
export CDK_DISABLE_CLI_TELEMETRY := true
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PATH := $(abspath $(VENV))/bin:$(abspath node_modules/.bin):$(PATH)

.PHONY: help setup test test-slow test-full lint fmt synth demo load up down preflight deploy destroy bench cost clean

help: ## list the commands
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: $(STAMP)/python $(STAMP)/node $(STAMP)/system ## install the virtualenv, the pinned CDK CLI and mosquitto

# Each install step says what it installs and about how long it takes. pip names each package
# as it goes, with a progress bar at a terminal; CI's log gets the names without the bars.
# scripts/heartbeat prints a line every 8 s while a step is silent (pip installing, npm, synth).
PIP_PROGRESS = $(if $(CI),--progress-bar off,)

$(STAMP)/python: requirements.txt requirements-dev.txt device/requirements.txt
	@echo "==> setup 1/3: Python packages into $(VENV) (requirements-dev.txt: the CDK library, boto3,"
	@echo "    moto, DuckDB, pyarrow, matplotlib, the AWS IoT SDK, pytest, ruff, ...); about 5 minutes"
	@echo "    the first time (about 110 packages, 1.4 GB), seconds when they are there"
	test -x $(PY) || python3 -m venv $(VENV)
	scripts/heartbeat "installing Python packages" \
	  $(PY) -m pip install --disable-pip-version-check $(PIP_PROGRESS) -r requirements-dev.txt
	@mkdir -p $(STAMP) && touch $@

$(STAMP)/node: package.json package-lock.json
	@echo "==> setup 2/3: Node packages into node_modules/ with npm ci (package-lock.json: the AWS"
	@echo "    CDK CLI and kinesalite, the local Kinesis); about a minute the first time"
	scripts/heartbeat "installing Node packages" npm ci --no-audit --no-fund --loglevel=error
	@mkdir -p $(STAMP) && touch $@

$(STAMP)/system: scripts/install-system-deps.sh
	@echo "==> setup 3/3: Debian packages mosquitto, mosquitto-clients and chromium, if missing"
	@echo "    (apt-get, needs root or sudo); a minute or two when they are missing"
	scripts/heartbeat "installing Debian packages" scripts/install-system-deps.sh
	@mkdir -p $(STAMP) && touch $@

lint: $(STAMP)/python ## ruff lint and format check
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

fmt: $(STAMP)/python ## format and autofix
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

synth: $(STAMP)/python $(STAMP)/node ## write the CloudFormation templates to cdk.out/ (offline; ARGS="-c key=value ...")
	scripts/heartbeat "synthesizing the CDK app (cdk synth, about a minute)" $(CDK) synth --quiet $(ARGS)

# A file's tests stay on one worker. Three workers on two cores: much of the suite waits on
# local services, and with three the cores are about 90% busy; the slow suite's load and crash
# tests keep two.
PYTEST_PARALLEL := -n 3 --dist loadfile
PYTEST_SLOW_PARALLEL := -n 2 --dist loadfile

test: setup lint ## the whole test suite (lint, unit, integration, e2e)
	$(PY) -m pytest $(PYTEST_PARALLEL) -m "not slow"

test-slow: setup ## only the slow fault-injection suite (CI runs it after `make test`)
	$(PY) -m pytest $(PYTEST_SLOW_PARALLEL) -m slow

test-full: setup lint ## everything: `make test` and the slow fault-injection suite in one run
	$(PY) -m pytest $(PYTEST_PARALLEL)

demo: setup ## replay the real Sense HAT log through the whole pipeline on this machine (FLEET=1: and a fleet in rooms)
	$(PY) -m localcloud demo $(if $(FLEET),--fleet,)

load: setup ## a fleet through the pipeline, accounted for (ARGS="--devices 100 --rate-hz 10 --minutes 10")
	$(PY) -m localcloud load $(ARGS)

up: setup synth ## start the local cloud in the background (endpoints in .localcloud/env; ARGS="-c key=value ...")
	$(PY) -m localcloud up

down: ## stop the background local cloud
	$(PY) -m localcloud down

# Deploying to AWS with your credentials and region (README, "Deploying to AWS"). ARGS go to the
# preflight and to cdk alike: make deploy ARGS="-c stage=dev -c deviceNames=pi-1,pi-2"
ARGS     ?=
DEPLOYED := .deploy
# cdk asks before a change widens IAM or security-group access; in CI no one can answer.
APPROVAL  = $(if $(CI),--require-approval never,)
CONFIRM   = $(if $(CI),--force,)

preflight: $(STAMP)/python $(STAMP)/node ## check the AWS account and region before a deploy (ARGS=--fix: make OpenSearch's role)
	$(PY) -m cdk_app.preflight $(ARGS)

deploy: $(STAMP)/python $(STAMP)/node ## preflight, then cdk deploy (ARGS="-c key=value ..."); prints the outputs and the next step
	@echo "==> 1/3 preflight: checking the account and region before anything is created"
	@$(PY) -m cdk_app.preflight $(ARGS)
	@echo "==> 2/3 cdk deploy: synthesizes the app, uploads the Lambda code, creates or updates the stack;"
	@echo "    a new OpenSearch domain takes about 20 minutes while CloudFormation's events scroll by"
	@mkdir -p $(DEPLOYED)
	$(CDK) deploy --all --outputs-file $(DEPLOYED)/outputs.json $(APPROVAL) $(ARGS)
	@echo "==> 3/3 deployed"
	@$(PY) -m cdk_app.preflight.outputs $(DEPLOYED)/outputs.json $(ARGS)

destroy: $(STAMP)/python $(STAMP)/node ## delete the stack (ARGS="-c stage=..."); says first what retainData keeps
	@echo "==> 1/2 preflight: the stack is there, and what deleting it keeps"
	@$(PY) -m cdk_app.preflight --destroy $(ARGS)
	@echo "==> 2/2 cdk destroy: asks to confirm, then CloudFormation deletes the stack (the OpenSearch"
	@echo "    domain takes a while); what was listed as kept above stays in the account"
	$(CDK) destroy --all $(CONFIRM) $(ARGS)


cost: $(STAMP)/python $(STAMP)/node ## monthly cost from the synthesized stack (ARGS="-c profile=fleet --rate-hz 1")
	$(PY) -m cdk_app.cost $(ARGS)

bench: setup ## print the benchmark figures the README quotes
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean: ## remove build output and the local cloud's kept state (keeps the virtualenv)
	rm -rf cdk.out out .localcloud .pytest_cache .ruff_cache
