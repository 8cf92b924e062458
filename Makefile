# rds: every command a developer or CI needs. See README.md.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
VAR ?= var
export RDS_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/rds
export RDS_AMQP_URI ?= amqp://guest:guest@127.0.0.1:5672/
export RDS_URL ?= http://127.0.0.1:8000

.PHONY: demo secrets install infra up down status test lint test-unit test-system \
	test-containers docs-screenshot bench clean

## demo: set everything up, start the whole system, deploy the sample project
demo: install infra
	$(BIN)/python -m rds_testing.appservers start $(VAR) 2201:rdsapp1 2202:rdsapp2
	psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='rds'" | grep -q 1 \
	  || psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE rds"
	$(BIN)/rds db upgrade
	$(MAKE) --no-print-directory secrets
	$(BIN)/python -m rds_testing.localrun restart --var-dir $(VAR)
	$(BIN)/python -c "from rds_testing.localrun import wait_ready; wait_ready('$(RDS_URL)', open('$(VAR)/admin-token').read().strip(), var_dir='$(VAR)')"
	RDS_TOKEN=$$(cat $(VAR)/admin-token) $(BIN)/rds demo --var-dir $(VAR)
	@echo
	@echo "Web UI:    $(RDS_URL)/   (user admin, password in $(VAR)/admin-password)"
	@echo "API token: $(VAR)/admin-token   (export RDS_TOKEN=\$$(cat $(VAR)/admin-token))"
	@echo "Logs:      $(VAR)/log/<service>.log     Stop: make down"

## secrets: the demo admin's password and API token, readable only by their owner (0600)
secrets:
	test -s $(VAR)/admin-token || { mkdir -p $(VAR) && umask 077 && \
	  $(BIN)/python -c "import secrets; print(secrets.token_urlsafe(12))" > $(VAR)/admin-password && \
	  $(BIN)/rds user create-admin admin --password "$$(cat $(VAR)/admin-password)" > $(VAR)/admin-token; }
	chmod 600 $(VAR)/admin-password $(VAR)/admin-token

## install: virtualenv with the pinned dependencies and rds itself (editable)
install: $(BIN)/rds
$(BIN)/rds: requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $(BIN)/rds

## infra: install/start PostgreSQL, RabbitMQ, sshd, Chromium on this machine
infra:
	dev/ensure-infra.sh

## up / down / status: run the services as local processes (after `make demo` once);
## up restarts services already running, so new code is picked up
up: install infra
	$(BIN)/python -m rds_testing.appservers start $(VAR) 2201:rdsapp1 2202:rdsapp2
	$(BIN)/python -m rds_testing.localrun restart --var-dir $(VAR)
down:
	-$(BIN)/python -m rds_testing.localrun stop --var-dir $(VAR)
	-$(BIN)/python -m rds_testing.appservers stop $(VAR)
# fails unless every service and app server runs
status:
	@$(BIN)/python -m rds_testing.localrun status --var-dir $(VAR); s=$$?; \
	  $(BIN)/python -m rds_testing.appservers status $(VAR); a=$$?; \
	  test $$s = 0 -a $$a = 0 || exit 3

## test: lint, then every test against real PostgreSQL, RabbitMQ, sshd and Chromium
test: install infra lint test-unit test-system

lint:
	$(BIN)/ruff check libs services tests bench
	$(BIN)/mypy

# in-process tests (unit, ssh, nameko services under eventlet)
test-unit:
	$(BIN)/pytest -q tests/unit tests/control tests/api tests/web tests/ssh tests/gc
	$(BIN)/pytest -q tests/interface
# whole-system tests: services as processes, HTTP API, browser
test-system:
	$(BIN)/pytest -q tests/e2e tests/ui

## test-containers: build the images, run docker-compose.yml with podman, deploy, tear down
test-containers:
	docker/test-containers.sh

## docs-screenshot: refresh docs/board.png from the UI test (test runs never touch docs/)
docs-screenshot: install infra
	RDS_REFRESH_DOCS=1 $(BIN)/pytest -q \
	  tests/ui/test_release_board.py::test_release_from_creation_to_rollback_in_the_browser

## bench: the board's response time with 10,000 releases (throwaway database), then
## upload and activation side by side with scp/tar|ssh/rsync on 4 and 20 loopback sshd servers
## (quick run: BENCH_SERVERS=4 BENCH_FILES=1000 make bench); gc removing 30 releases from 2 servers;
## the control plane with 100,000 releases: board and API latency through gunicorn, 20 concurrent
## API clients, ingest bursts, 100 live streams, beside the goals (quick run: BENCH_RELEASES=10000)
bench: install infra
	$(BIN)/python bench/board.py
	$(BIN)/python bench/upload.py
	$(BIN)/python bench/gc.py
	$(BIN)/python bench/control_plane.py

clean: down
	rm -rf $(VAR) test-artifacts
