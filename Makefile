# The two commands of the quickstart are `make up` and `make test`; `make check` is the fast part.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
ARTIFACTS ?= artifacts
PYTEST_ARGS ?=

.PHONY: help venv up down status lint unit integration check test e2e slow molecule bench clean \
	openstack-up openstack-down

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): requirements/controller.txt requirements/dev.txt app/requirements-web.in app/requirements-worker.in
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	cd requirements && ../$(PIP) install --quiet -r dev.txt
	touch $@

venv: $(STAMP) ## Create .venv and install every pinned dependency

up: $(STAMP) ## Bring the whole stack up on local machines and print the URL (no flags needed; OFFLINE=1, DATASET=path.csv, WORKERS=N)
	scripts/ensure-docker.sh
	$(PY) start_instances.py --provider local $(if $(OFFLINE),--offline) $(if $(DATASET),--dataset-file $(DATASET)) \
		$(if $(WORKERS),--workers $(WORKERS))

down: $(STAMP) ## Remove the local machines (and everything else the launcher made)
	$(PY) start_instances.py --provider local --destroy

status: $(STAMP) ## Show the machines that exist
	$(PY) start_instances.py --provider local --status

lint: $(STAMP) ## ruff, yamllint, ansible-lint (production profile), shellcheck
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/yamllint --strict .
	PATH=$(abspath $(VENV))/bin:$$PATH $(VENV)/bin/ansible-lint --profile production
	shellcheck scripts/*.sh machine-image/*.sh .ci/run $(filter-out %.py %.in %.txt,$(wildcard roles/git_deploy/files/* roles/remote_workers/files/* roles/docker/files/* roles/model_serving/files/*))

unit: $(STAMP) ## Unit tests (seconds)
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

integration: $(STAMP) ## Integration tests: real RabbitMQ, Celery, Chromium, Docker builds, local machines
	$(VENV)/bin/pytest tests/integration -m "not slow" $(PYTEST_ARGS)

check: lint unit integration ## The fast part: lint + unit + integration

e2e: $(STAMP) ## End to end on local machines: from nothing to serving, drills, git-push delivery, teardown
	$(VENV)/bin/pytest tests/e2e $(PYTEST_ARGS)

slow: $(STAMP) ## The other converging suites: per-role drift drills and firewall checks, Docker in prodserver; the compose stack
	$(VENV)/bin/pytest -m slow tests/integration/roles tests/integration/machines tests/integration/app/test_app_compose.py \
		tests/integration/app/test_app_pip_hashes.py $(PYTEST_ARGS)

molecule: $(STAMP) ## The molecule scenario (create, converge, idempotence, verify, destroy) on local machines
	scripts/ensure-docker.sh
	PATH=$(abspath $(VENV))/bin:$$PATH $(VENV)/bin/molecule test

test: check e2e ## The whole test suite (what CI runs)

bench: $(STAMP) ## Print the benchmark figures (each bench/*_bench.py in turn; serve_bench.py is the summary table)
	scripts/ensure-docker.sh
	set -e; for b in bench/*_bench.py; do echo "== $$b"; $(PY) $$b; done

openstack-up: $(STAMP) ## Start the OpenStack test bed (real Zed control plane in a container); writes artifacts/openstack/clouds.yaml
	scripts/ensure-docker.sh
	$(PY) -m testbed.openstack up

openstack-down: $(STAMP) ## Remove the OpenStack test bed's container (keeps its cached image)
	$(PY) -m testbed.openstack down

clean: ## Remove caches and artifacts (keeps .venv and secrets)
	rm -rf $(ARTIFACTS) .pytest_cache .ruff_cache .hypothesis
