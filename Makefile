# Entry points of the kit. Targets are thin: each calls a script or a tool; logic lives in scripts/.
# `make` alone lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

ENV ?= local
# Empty: ENV=local uses nginx, an AWS ENV the web server recorded in its inventory (site.yml).
WEB ?=
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)

.PHONY: help setup lint test test-app test-pulumi test-kit test-stacks image molecule rehearsal bench deploy

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: ## Install Debian packages and the pinned virtual environment (.venv)
	@scripts/bootstrap.sh

lint: setup ## ruff, yamllint and ansible-lint (production profile)
	@scripts/lint.sh

test: setup lint test-app test-pulumi test-kit test-stacks ## Run every test suite (what CI runs)
	@echo "make test: all suites passed"

test-app: setup ## mypy over app/ and soc2kit (django-stubs), then the Django app tests against a real PostgreSQL on 127.0.0.1
	@scripts/test-app.sh

test-pulumi: setup ## Pulumi program unit tests (mocks), policy pack tests, mypy
	@scripts/test-pulumi.sh

test-kit: setup ## Tests of the deploy tooling (preflight, Pulumi inventory, local workflow)
	@scripts/test-kit.sh

image: setup ## Build the Debian 12 test-host image with debootstrap (podman)
	@scripts/build-test-image.sh

test-stacks: setup image ## Role arguments, then the default scenario and the rehearsal (WEB=apache) side by side
	@scripts/test-stacks.sh

molecule: setup image ## Converge, idempotence and verify every molecule scenario on local containers
	@scripts/molecule.sh

rehearsal: setup image ## The AWS flow on containers with WEB=apache: deploy, idempotence, verify, rolling test, destroy
	@scripts/rehearsal-test.sh

bench: setup ## Field-encryption benchmarks (ratios, writes bench/results.json)
	@scripts/bench.sh

deploy: ## Deploy: ENV=local (containers), ENV=dev|staging|prod (AWS) or ENV=rehearsal (the AWS flow on containers)
	@scripts/deploy.sh "$(ENV)" "$(WEB)"

.PHONY: plan destroy rollback ami
plan: ## Preview the AWS changes of ENV=dev|staging|prod (pulumi preview; changes nothing)
	@scripts/kit.sh plan "$(ENV)" "$(WEB)"

destroy: ## Tear down ENV (local containers, or the AWS stack; prod needs CONFIRM_DESTROY=prod)
	@scripts/kit.sh destroy "$(ENV)" "$(WEB)"

rollback: ## Switch the app of ENV back to the previous release (RELEASE=<name> picks one)
	@scripts/kit.sh rollback "$(ENV)" "$(WEB)"

.PHONY: soc2kit-wheel new-project
soc2kit-wheel: setup ## Rebuild the soc2kit wheel reproducibly and pin its sha256 in app/requirements/base.txt
	@PYTHONPATH=scripts $(BIN)/python -m kit.wheel --write

new-project: setup ## A new Django project meeting the kit's contract: NAME=myproject [DIR=..] (docs/own-project.md)
	@PYTHONPATH=scripts $(BIN)/python -m kit.new_project "$(NAME)" "$(or $(DIR),..)"

.PHONY: role-docs
role-docs: setup ## Regenerate the variable tables of the role READMEs from meta/argument_specs.yml
	@$(BIN)/soc2kit-role-docs --write

.PHONY: ami
ami: ## Print the newest official Debian 12 AMI for ENV's region and architecture (to pin as soc2kit:ami_id)
	@scripts/kit.sh ami "$(ENV)"

.PHONY: verify
verify: ## Verify every control of ENV now; writes evidence/<ENV>/<UTC time>/ (CHECKS=id,id runs a subset)
	@scripts/verify.sh "$(ENV)" "$(WEB)"

.PHONY: loadtest
loadtest: ## Load test of the running local stack: through the web server and direct to gunicorn (ENV=local)
	@scripts/loadtest.sh "$(ENV)" "$(WEB)"

.PHONY: faulttest
faulttest: ## Fault tests on the running local stack: break one thing, check, restore (ENV=local)
	@scripts/faulttest.sh "$(ENV)" "$(WEB)"

.PHONY: evidence evidence-verify controls
evidence: ## Signed evidence bundle of a period: ENV=... SINCE=YYYY-MM-DD [UNTIL=YYYY-MM-DD] (evidence/<ENV>/bundle-*)
	@$(BIN)/soc2kit-evidence build "$(ENV)" "$(SINCE)" "$(UNTIL)" --web "$(WEB)"

evidence-verify: ## Check a bundle: BUNDLE=evidence/<ENV>/bundle-... (exit 1 on any added, removed or changed file)
	@$(BIN)/soc2kit-evidence verify "$(BUNDLE)" $(if $(PUBLIC_KEY),--public-key "$(PUBLIC_KEY)")

controls: setup ## Regenerate CONTROLS.md (one row per control) from scripts/kit/verify/
	@$(BIN)/soc2kit-controls-doc --write
