# The two commands: `make run` (demo on embedded SQLite) and `make test` (real PostgreSQL + Redis).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# semgrep for `make sast`, pinned in its own virtualenv (scripts/ops_tools.py, group sast).
SEMGREP := $(or $(FINTECH_TOOLS_DIR),var/tools)/semgrep/bin/semgrep
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test dast dast-full browsers screenshots bench drill drill-db drill-lb drill-restore restore-drill engines iac-check ci lint contracts typecheck sast bandit secrets migrations-check deploy-check sbom audit-deps install clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else "Python 3.11+ is required (found %d.%d)" % sys.version_info[:2])'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/python manage.py migrate --database keys --noinput
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py move_subject_keys
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py demo_data
	@echo "Serving on http://127.0.0.1:$(PORT)/  (admin: /admin/  API: /api/v1/  docs: /api/docs/)"
	$(BIN)/honcho -f Procfile.dev start -p $(PORT)

# semgrep is installed when missing so that tests/test_sast.py (each rule against a planted violation)
# runs; offline, the install fails, those tests skip naming it, and `make sast` (in ci) fails.
test: install browsers
	@test -x $(SEMGREP) || python3 scripts/ops_tools.py install sast || echo "make test: semgrep not installed: tests/test_sast.py will skip"
	$(BIN)/python scripts/with_services.py -- $(BIN)/pytest $(PYTEST_ARGS)

# The browser tests (tests/browser/) drive Debian's chromium through Playwright: installed here with
# apt-get when missing, never a browser build of Playwright's own. Without it (no root, no apt) the
# browser tests skip with a loud reason, except under CI, where they fail.
browsers:
	@test -x /usr/bin/chromium || { echo "Installing Debian's chromium for the browser tests (apt-get install -y chromium)"; \
	  apt-get install -y chromium || { apt-get update && apt-get install -y chromium; } || \
	  echo "WARNING: chromium could not be installed: the browser tests will be SKIPPED (they fail under CI)"; }

# The main staff screens as PNGs in docs/screenshots/ (demo data, 1440 px wide), for the README.
screenshots: install browsers
	$(BIN)/python scripts/with_services.py -- $(BIN)/pytest -n 0 tests/browser/screenshots.py

# Bounded benchmarks on the test PostgreSQL (scratch databases, dropped afterwards), each printing
# a table. BENCH_ARGS="-d 5" shortens the ledger run. bench_admin: the audit change list at 1M
# records (BENCH_ADMIN_ROWS to change the size).
bench: install
	$(BIN)/python scripts/with_services.py -- $(BIN)/python bench/bench_ledger.py $(BENCH_ARGS)
	$(BIN)/python scripts/with_services.py -- $(BIN)/python bench/bench_audit.py
	$(BIN)/python scripts/with_services.py -- $(BIN)/python bench/bench_retention.py
	$(BIN)/python scripts/with_services.py -- $(BIN)/python bench/bench_api.py
	$(BIN)/python scripts/with_services.py -- $(BIN)/python bench/bench_dsar.py
	$(BIN)/python scripts/with_services.py -- $(BIN)/python bench/bench_admin.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The architecture contracts (import-linter: layers and no import circles; docs/ARCHITECTURE.md).
contracts: install
	$(BIN)/lint-imports

# Types: mypy with the Django and DRF plugins; services and selectors strict ([tool.mypy]).
typecheck: install
	$(BIN)/mypy

# SAST with the project's rules (issue 15): semgrep, offline, with the rules of .semgrep/ (writes
# only in services, AllowAny only on the public views, no raw SQL outside its allowlist, no float
# in ledger/, tasks enqueued on commit). Prints rules, files scanned and findings per rule; any
# finding fails. tests/test_sast.py proves each rule catches a planted violation.
sast: $(SEMGREP)
	python3 scripts/sast.py

$(SEMGREP):
	python3 scripts/ops_tools.py install sast

bandit: install
	$(BIN)/bandit -q -r fintech accounts compliance ledger -c pyproject.toml --severity-level high

secrets: install
	git ls-files -z | xargs -0 $(BIN)/detect-secrets-hook --baseline .secrets.baseline

migrations-check: install
	DJANGO_SETTINGS_MODULE=fintech.settings.dev FINTECH_VAR_DIR=$$(mktemp -d) $(BIN)/python manage.py makemigrations --check --dry-run

# check --deploy under the production profile, with throwaway values standing in for secrets.
deploy-check: install
	DJANGO_SETTINGS_MODULE=fintech.settings.prod \
	DJANGO_SECRET_KEY=$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(64))') \
	DJANGO_ALLOWED_HOSTS=fintech.example \
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/fintech REDIS_URL=redis://127.0.0.1:6379/0 \
	SUBJECT_KEYS_DATABASE_URL=postgres://postgres@127.0.0.1:5432/fintech_keys \
	FIELD_ENCRYPTION_KEYS=1:$$($(BIN)/python -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())') \
	BLIND_INDEX_KEYS=1:$$($(BIN)/python -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())') \
	AUDIT_SIGNING_KEYS=1:$$($(BIN)/python -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())') \
	$(BIN)/python manage.py check --deploy --fail-level WARNING

# High availability on real engines (SPEC C9, docs/ARCHITECTURE.md "Availability"). Each drill
# installs the Debian/PyPI engines it needs when missing (scripts/ops_tools.py prints each install)
# and runs them itself, on loopback, in a temporary directory.
# drill-db: etcd + three Patroni nodes + HAProxy; transfers through gunicorn; the leader SIGKILLed,
# rejoined, then the new leader SIGSTOPped: RPO 0, RTO failure-to-first-write, second failover.
drill-db: install
	python3 scripts/ops_tools.py install db
	$(BIN)/python scripts/failover_drill.py

# drill-lb: nginx (deploy/nginx) in front of two gunicorns, one SIGKILLed under 2,000 transfers.
drill-lb: install
	python3 scripts/ops_tools.py install lb
	$(BIN)/python scripts/with_services.py -- $(BIN)/python scripts/lb_drill.py

# drill-restore: pgBackRest full + differential backups and WAL archive of a Patroni cluster, the
# cluster destroyed, a point-in-time restore into a new one; prints the measured backup RPO.
drill-restore: install
	python3 scripts/ops_tools.py install db backup
	$(BIN)/python scripts/restore_drill.py

# The names the earlier drills had.
drill: drill-db
restore-drill: drill-restore

# Every engine the drills and the CI gates use (apt + separate virtualenvs under var/tools/).
engines:
	python3 scripts/ops_tools.py install

# terraform fmt/validate (offline), checkov on Terraform, Kubernetes and the Dockerfile (0 failed),
# promtool check + test of the alert rules.
iac-check: engines
	python3 scripts/iac_check.py all

# Supply chain (SPEC C10): the runtime SBOM (CycloneDX, var/sbom/) and a pip-audit of the same set
# that says INCOMPLETE instead of passing when no vulnerability source is reachable.
sbom: install
	$(BIN)/python scripts/supply_chain.py sbom

audit-deps: install
	$(BIN)/python scripts/supply_chain.py audit

# DAST (SPEC C10, original document 003 §1.2; docs/ARCHITECTURE.md "DAST"): the app under the
# production profile in gunicorn with TLS on 127.0.0.1:$${DAST_PORT:-8411}, a fresh database
# (fintech_dast) and Redis db 9, attacked by schemathesis (every check, each persona), sqlmap (every
# parameterised GET, each persona) and wapiti (admin session and API). Fails on any 5xx, schema
# violation, injectable parameter or wapiti high/critical finding or injection. The planted-defect
# tests of each gate run first. Reports (the CI artifacts): var/dast/. sqlmap and wapiti get their own
# virtualenvs under var/tools/. dast-full: more examples, the stateful phase, sqlmap level 3 / risk 2,
# every wapiti module, every staff persona on the API.
dast: install
	$(BIN)/python scripts/dast.py --tools-only
	$(BIN)/python scripts/with_services.py -- $(BIN)/pytest -n 0 -p no:cacheprovider tests/test_dast.py
	$(BIN)/python scripts/with_services.py -- $(BIN)/python scripts/dast.py --profile quick

dast-full: install
	$(BIN)/python scripts/dast.py --tools-only
	$(BIN)/python scripts/with_services.py -- $(BIN)/pytest -n 0 -p no:cacheprovider tests/test_dast.py
	$(BIN)/python scripts/with_services.py -- $(BIN)/python scripts/dast.py --profile full

# CI runs as root: `engines` installs what the ha tests and iac-check need, so `test` runs the drills.
# `dast` (5 min measured on this shared 2-core machine, 12 min under heavy load) runs before `test`.
ci: lint contracts typecheck sast bandit secrets migrations-check deploy-check sbom audit-deps engines iac-check dast test

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
