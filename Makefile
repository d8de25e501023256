# antrean: the front door. Every target says what it does.
SHELL := /bin/bash
# Build output lives outside the clone, so fresh clones (and CI) reuse earlier builds.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/antrean/target
export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/antrean
export REDIS_URL ?= redis://127.0.0.1:6379
OFFICE ?= BOGOR
PHONE ?= 081234567890

.PHONY: up down test admin chat lint sqlx-prepare fmt build services logs browser-deps k8s-check bench restore-drill

## up: build and start all five services in the background (starts PostgreSQL/Redis if needed)
up:
	deploy/local/up.sh

## down: stop the services started by `make up`
down:
	deploy/local/down.sh

## test: start PostgreSQL/Redis if needed, install the browser-test tools if missing, run every test
test: services browser-deps
	deploy/local/test-cleanup.sh
	@command -v cargo-nextest >/dev/null || cargo install cargo-nextest --locked
	cargo build --workspace --bins
	cargo nextest run --workspace --no-fail-fast
	deploy/k8s-check.sh

## restore-drill: run the services, take bookings, pg_dump the ledger, restore it into a fresh database with an empty Redis, start the services on it and check every booking, queue number and availability figure (docs/backup.md; make test runs it too)
restore-drill: services
	@command -v cargo-nextest >/dev/null || cargo install cargo-nextest --locked
	cargo build --workspace --bins
	cargo nextest run -p antrean-tests --test restore_drill

## admin: create the first directorate admin, e.g. make admin USERNAME=admin.pusat NAME="Admin Pusat" (password from ADMIN_PASSWORD, else asked)
admin: services
	cargo run -q -p antrean-identity -- create-admin --username "$(USERNAME)" --display-name "$(NAME)"

## chat: chat with an office's WhatsApp bot in the terminal (after `make up`), e.g. make chat OFFICE=BOGOR PHONE=081234567890
chat:
	cargo run -q -p antrean-gateway --bin antrean-chat -- --office $(OFFICE) --phone $(PHONE)

## browser-deps: Debian chromium and npm playwright-core for the portal tests (no browser download), poppler-utils for the PDF tests, promtool (Debian prometheus) for the Prometheus configuration, PyPI openapi-spec-validator
browser-deps:
	@command -v chromium >/dev/null && command -v pdftotext >/dev/null || { sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium poppler-utils >/dev/null || \
	  { $$sudo apt-get update -q >/dev/null && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium poppler-utils >/dev/null; }; }
	@command -v promtool >/dev/null || { sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >/dev/null || \
	  { $$sudo apt-get update -q >/dev/null && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >/dev/null; }; }
	@[ -d tests/browser/node_modules/playwright-core ] || (cd tests/browser && npm ci --no-audit --no-fund)
	@python3 -c "import openapi_spec_validator" 2>/dev/null || python3 -m pip install -q openapi-spec-validator

## bench: release build, start the system on a fresh bench database, run every scenario and its baselines (writes docs/performance-*), stop
bench: services
	deploy/local/bench.sh $(BENCH_ARGS)

## k8s-check: render every kustomize overlay and validate it (kubernetes-validate --strict, yamllint)
k8s-check: browser-deps
	deploy/k8s-check.sh

## lint: rustfmt, clippy (warnings as errors) and the committed SQL metadata up to date
lint: services
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	deploy/local/sqlx.sh check

## sqlx-prepare: write the SQL metadata the query macros check against (services/*/.sqlx), after changing a query or a migration
sqlx-prepare: services
	deploy/local/sqlx.sh prepare

## fmt: format the code
fmt:
	cargo fmt --all

## build: build every crate
build:
	cargo build --workspace --bins

## services: make sure PostgreSQL and Redis are running on loopback
services:
	deploy/local/services.sh

## logs: follow the logs of the services started by `make up`
logs:
	tail -F .run/*.log
