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

.PHONY: help setup test test-slow test-full lint fmt synth demo up down bench clean

help: ## list the commands
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: $(STAMP)/python $(STAMP)/node $(STAMP)/system ## install the virtualenv, the pinned CDK CLI and mosquitto

$(STAMP)/python: requirements.txt requirements-dev.txt device/requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@mkdir -p $(STAMP) && touch $@

$(STAMP)/node: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@mkdir -p $(STAMP) && touch $@

$(STAMP)/system: scripts/install-system-deps.sh
	scripts/install-system-deps.sh
	@mkdir -p $(STAMP) && touch $@

lint: $(STAMP)/python ## ruff lint and format check
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

fmt: $(STAMP)/python ## format and autofix
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

synth: $(STAMP)/python $(STAMP)/node ## write the CloudFormation templates to cdk.out/ (offline)
	$(CDK) synth --quiet

# Two workers: much of the suite waits on local services; a file's tests stay on one worker.
PYTEST_PARALLEL := -n 2 --dist loadfile

test: setup lint ## the whole test suite (lint, unit, integration, e2e)
	$(PY) -m pytest $(PYTEST_PARALLEL) -m "not slow"

test-slow: setup ## only the slow fault-injection suite (CI runs it after `make test`)
	$(PY) -m pytest $(PYTEST_PARALLEL) -m slow

test-full: setup lint ## everything: `make test` and the slow fault-injection suite in one run
	$(PY) -m pytest $(PYTEST_PARALLEL)

demo: setup ## replay the real Sense HAT log through the whole pipeline on this machine
	$(PY) -m localcloud demo

up: setup synth ## start the local cloud in the background (endpoints in .localcloud/env)
	$(PY) -m localcloud up

down: ## stop the background local cloud
	$(PY) -m localcloud down


bench: setup ## print the benchmark figures the README quotes
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean: ## remove build output (keeps the virtualenv)
	rm -rf cdk.out out .localcloud .pytest_cache .ruff_cache
