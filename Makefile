# The two commands: `make run` and `make test`. Both build .venv from the pinned lock first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements/dev.txt
STAMP := $(VENV)/.installed
# Kubernetes manifests (the kustomization and the KEDA objects have no Kubernetes schema).
K8S_MANIFESTS := $(filter-out deploy/k8s/kustomization.yaml,$(wildcard deploy/k8s/*.yaml))

.PHONY: run demo dead-letters compose-secrets test lint unit integration e2e faults bench simulate report casebook lock clean clean-state system-libraries
# The provider portal's assets: govuk-frontend (and, for the browser tests, axe-core) from
# package-lock.json with its integrity hashes, built by `npm run build` (deploy/Dockerfile
# does the same). Nothing fetched is committed.
NPM_STAMP := node_modules/.package-lock.json
PORTAL_DIR := services/provider_adapter/entrypoints/portal
PORTAL_ASSETS := $(PORTAL_DIR)/static/build/portal.css
# The browser tests drive Debian's Chromium (never a browser downloaded by Playwright).
CHROMIUM := /usr/bin/chromium

.PHONY: run demo totp portal-assets browser dead-letters compose-secrets test lint unit integration e2e faults bench simulate report casebook lock clean clean-state asyncapi

# Scale-out: make run ROUTERS=3 ADAPTER_REPLICAS=2 (more processes, one consumer group each).
run: $(STAMP) $(PORTAL_ASSETS)
	@$(BIN)/python -m deploy.localstack run $(if $(ROUTERS),--routers $(ROUTERS)) \
		$(if $(ADAPTER_REPLICAS),--adapter-replicas $(ADAPTER_REPLICAS))

# The current sign-in code of the portals' demo administrator (make run prints the rest).
totp: $(STAMP)
	@$(BIN)/python -m deploy.localstack totp

portal-assets: $(PORTAL_ASSETS)

# The bus's AsyncAPI 3.0 document, generated from schemas/ (tests/unit/test_asyncapi.py fails
# when the committed file is not what the code generates).
asyncapi: $(STAMP)
	$(BIN)/python -m schemas.asyncapi > docs/asyncapi.json

$(PORTAL_ASSETS): $(NPM_STAMP) $(wildcard $(PORTAL_DIR)/static/*.scss $(PORTAL_DIR)/static/*.mjs) $(PORTAL_DIR)/build.mjs services/plumbing/static/docs.mjs
	@npm run --silent build

$(NPM_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || $(call debian_packages,nodejs npm)
	npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

browser: $(CHROMIUM)

$(CHROMIUM):
	$(call debian_packages,chromium fonts-liberation)

# Installs Debian packages the project needs when they are missing: as root (CI runs so, on a
# clean Debian machine) with apt-get, else through sudo, else says what to install.
define debian_packages
	if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(1); \
	elif command -v sudo >/dev/null; then sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(1); \
	else echo "Install these Debian packages first: $(1)"; exit 1; fi
endef

# The whole loop moving on synthetic data: referrals in, five simulated providers at work.
#   make demo MINUTES=5 PER_MINUTE=60
demo: $(STAMP) $(PORTAL_ASSETS)
	@$(BIN)/python -m deploy.demo $(if $(MINUTES),--minutes $(MINUTES)) $(if $(PER_MINUTE),--per-minute $(PER_MINUTE))

test: $(STAMP) lint $(PORTAL_ASSETS) $(CHROMIUM)
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
	$(BIN)/kubernetes-validate --strict --quiet $(K8S_MANIFESTS)
	$(BIN)/check-jsonschema --schemafile deploy/k8s/keda/scaledobject.schema.json deploy/k8s/keda/*.yaml
	$(BIN)/check-jsonschema --schemafile deploy/k8s/keda/auth/triggerauthentication.schema.json deploy/k8s/keda/auth/*.yaml

unit integration e2e faults: $(STAMP) $(PORTAL_ASSETS) $(CHROMIUM)
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/$@

# WeasyPrint (the report's PDF) lays text out with Pango, a system library: installed from
# Debian's packages where it is missing (as root; otherwise it says what to install).
PANGO_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core
system-libraries:
	@ldconfig -p 2>/dev/null | grep -q 'libpangoft2-1.0.so.0' || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "Installing Pango for the report's PDF ($(PANGO_PACKAGES)) ..."; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(PANGO_PACKAGES) >/dev/null; \
		else echo "The report's PDF needs Pango: install $(PANGO_PACKAGES) (Debian/Ubuntu)"; exit 1; fi; }

$(STAMP): $(LOCK) requirements/runtime.txt | system-libraries
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is needed, found " + sys.version.split()[0]' \
		|| { echo "Set PYTHON=/path/to/python3.11"; exit 1; }
	@test -x $(BIN)/python || { echo "Creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@echo "Installing pinned dependencies from $(LOCK) ..."
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes -r $(LOCK)
	@touch $(STAMP)

# Performance, measured (never asserted by a test): starts its own hub, at most ten minutes,
# writes .dev/bench.json and prints a summary (docs/performance.md explains the figures).
bench: $(STAMP) $(PORTAL_ASSETS)
	timeout --signal=INT 600 $(BIN)/python -m bench $(ARGS)

# The commissioner's performance report from the running local stack (URL and commissioner
# token from .dev/stack.json), in .dev/reports/: HTML with its charts (or FORMAT=pdf, csv,
# json), the internal edition (or EDITION=published, fit for a public panel pack):
#   make report PERIOD=2026-27Q3 FORMAT=pdf EDITION=published
#   make report FROM=2026-10-01 TO=2026-12-31 AREA=shropshire
report: $(STAMP)
	@$(BIN)/python -m reports $(if $(PERIOD),--period $(PERIOD)) \
		$(if $(FROM),--from $(FROM)) $(if $(TO),--to $(TO)) $(if $(AREA),--local-authority $(AREA)) \
		$(if $(FORMAT),--format $(FORMAT)) $(if $(EDITION),--edition $(EDITION))

# What-if simulation of a candidate policy on the referrals received in a period, against
# the running local stack's database (or DATABASE_URL):
#   make simulate CANDIDATE=2027-04-01.1 FROM=2026-10-01 TO=2026-12-31
simulate: $(STAMP)
	@test -n "$(CANDIDATE)" || { echo "usage: make simulate CANDIDATE=<version> [FROM=YYYY-MM-DD] [TO=YYYY-MM-DD]"; exit 2; }
	@$(BIN)/python -m services.router simulate --candidate $(CANDIDATE) \
		$(if $(FROM),--from $(FROM)) $(if $(TO),--to $(TO))

# The public casebooks in process (default: version 1's cases under versions 1 and 2, version
# 2's under the version they name), or every case against one version:
#   make casebook VERSION=2027-04-01.1
casebook: $(STAMP)
	@test -z "$(VERSION)" || test -f "services/router/policy/$(VERSION)/manifest.json" || { \
		echo "There is no policy version $(VERSION) in services/router/policy/: the versions are $$(ls services/router/policy | paste -sd ' ')."; exit 2; }
	CASEBOOK_POLICY_VERSION=$(VERSION) $(BIN)/python -m pytest -q -p no:cacheprovider tests/unit/test_casebook.py

# Dead letters: make dead-letters ARGS="list" | ARGS="show <id>" | ARGS="replay <id>" | ARGS="discard <id>"
dead-letters: $(STAMP)
	@$(BIN)/python -m services.plumbing.deadletters $(or $(ARGS),list)

# Fresh secrets for docker-compose.yml into deploy/secrets/ (existing ones are kept).
compose-secrets: $(STAMP)
	@$(BIN)/python -m deploy.compose_secrets $(or $(ARGS),generate)

# Regenerate the locks after changing dependencies in pyproject.toml. Both locks carry hashes
# (.venv and the image install with --require-hashes; the image from runtime.txt).
lock:
	@test -x $(VENV)-lock/bin/pip-compile || { $(PYTHON) -m venv $(VENV)-lock && $(VENV)-lock/bin/pip install --quiet pip-tools; }
	$(VENV)-lock/bin/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links \
		--generate-hashes --output-file requirements/runtime.txt pyproject.toml
	$(VENV)-lock/bin/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links \
		--extra local --extra dev --generate-hashes --output-file requirements/dev.txt pyproject.toml

# Forget the local stack's database and logs (it must not be running).
clean-state:
	rm -rf .dev

clean: clean-state
	rm -rf $(VENV) $(VENV)-lock .mypy_cache .ruff_cache node_modules $(PORTAL_DIR)/static/build
