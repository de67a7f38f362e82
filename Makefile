# Diwan: `make run` starts a demo administration, `make test` runs every test.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
# Debian packages: the font for generated PDFs and signature stamps (Arabic and Latin), Tesseract
# with its Arabic and French data (OCR of scanned letters); for the
# tests: chromium (browser tests), softhsm2 (a PKCS#11 token), poppler-utils' pdfsig and qpdf
# and libnss3-tools' certutil (independent checks of the PDFs Diwan signs), zbar-tools (reads QR codes back),
# postgresql-client (pg_dump and pg_restore: `diwan backup` on PostgreSQL, and its test).
RUN_PACKAGES := fonts-hosny-amiri tesseract-ocr tesseract-ocr-ara tesseract-ocr-fra
TEST_PACKAGES := $(RUN_PACKAGES) chromium softhsm2 poppler-utils qpdf libnss3-tools zbar-tools \
	postgresql-client

.PHONY: install run test lint format translations extract-messages bench system-packages-run system-packages-test

install: $(VENV)/.installed translations

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Diwan needs Python 3.11 or newer"'
	@$(PYTHON) -m venv $(VENV) || { echo "Cannot create $(VENV): install python3-venv (apt-get install python3-venv)"; exit 1; }
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $@

translations: $(VENV)/.installed
	$(BIN)/pybabel --quiet compile -d app/translations

extract-messages: $(VENV)/.installed
	$(BIN)/pybabel --quiet extract -F babel.cfg -k _l -k lazy_gettext -o app/translations/messages.pot .
	$(BIN)/pybabel --quiet update --no-fuzzy-matching -i app/translations/messages.pot -d app/translations

# Install missing Debian packages when root; otherwise say exactly what to run.
define debian_packages
	@missing=""; \
	if ! command -v dpkg >/dev/null 2>&1; then echo "Not Debian/Ubuntu: install the equivalents of: $(1)"; exit 0; fi; \
	for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" -eq 0 ]; then echo "Installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "Diwan needs these Debian packages: sudo apt-get install$$missing"; exit 1; fi; \
	fi
endef

system-packages-run:
	$(call debian_packages,$(RUN_PACKAGES))

system-packages-test:
	$(call debian_packages,$(TEST_PACKAGES))

run: install system-packages-run
	$(BIN)/diwan db upgrade
	$(BIN)/diwan demo
	@echo "Diwan is starting on http://127.0.0.1:$(PORT), with its background worker"
	@export DIWAN_BASE_URL="$${DIWAN_BASE_URL:-http://127.0.0.1:$(PORT)}"; \
	$(BIN)/diwan worker & worker=$$!; trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/diwan run --host 127.0.0.1 --port $(PORT) --no-reload --no-debugger --with-threads

# Production (docs/operations.md): gunicorn with config/gunicorn.conf.py, settings from the DIWAN_*
# environment. Migrations are a separate step of an upgrade: `diwan db upgrade`.
.PHONY: serve-production
serve-production: install system-packages-run
	$(BIN)/gunicorn -c config/gunicorn.conf.py app.wsgi:app

test: install system-packages-test
	$(BIN)/pytest -q

# The whole suite on PostgreSQL: each test gets a new database copied from one migrated template
# on DIWAN_TEST_DATABASE_URL's server (a database there the user may create databases from).
DIWAN_TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test
.PHONY: test-postgresql
test-postgresql: install system-packages-test
	DIWAN_TEST_ENGINE=postgresql DIWAN_TEST_DATABASE_URL='$(DIWAN_TEST_DATABASE_URL)' $(BIN)/pytest -q

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check app signing indexing config tests bench

format: $(VENV)/.installed
	$(BIN)/ruff format app signing indexing config tests bench
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	$(BIN)/python bench/numbering.py
	$(BIN)/python bench/register_listing.py
	$(BIN)/python bench/signing.py
	$(BIN)/python bench/validation.py
	$(BIN)/python bench/search.py
