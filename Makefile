# The two commands of the README's quick start: `make demo` and `make test`.
# Both create the virtual environment and install what they need on first use.

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint dev install bench clean frontend

# the admin app (frontend/): npm ci when the lockfile is newer than node_modules, a Vite build
# into connector/static/admin/ when that is missing or older than any of the app's sources
FRONTEND_SOURCES := $(shell find frontend/src -type f 2>/dev/null) frontend/vite.config.js frontend/package.json
ADMIN_BUILD := connector/static/admin/manifest.json

frontend/node_modules/.package-lock.json: frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	@touch $@

$(ADMIN_BUILD): frontend/node_modules/.package-lock.json $(FRONTEND_SOURCES)
	cd frontend && npm run build

frontend: $(ADMIN_BUILD)

# the storefront widget (widget/): built when missing or older than its sources, then copied
# into the Shopify theme extension and the WordPress plugin, which ship their own copy
WIDGET_JS := connector/static/storefront/widget.js
WIDGET_COPIES := extensions/whatsapp-widget/assets integrations/woocommerce/wordpress-plugin/whatsapp-commerce-connector/assets
$(WIDGET_JS): widget/package.json widget/package-lock.json widget/build.mjs $(wildcard widget/src/*)
	cd widget && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build
	for dir in $(WIDGET_COPIES); do mkdir -p $$dir && cp connector/static/storefront/widget.js connector/static/storefront/widget-ui.js $$dir/; done
	@touch $@

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is required" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

install: $(VENV)/.installed $(ADMIN_BUILD) $(WIDGET_JS)

demo: $(VENV)/.installed $(ADMIN_BUILD) $(WIDGET_JS)
	$(BIN)/connector demo

dev: $(VENV)/.installed $(ADMIN_BUILD) $(WIDGET_JS)
	$(BIN)/connector dev

test: $(VENV)/.installed-test $(ADMIN_BUILD) $(WIDGET_JS)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# style and import order (ruff), types (mypy), the layer contracts (import-linter); .ci/run runs it first
lint: $(VENV)/.installed-test
	$(BIN)/ruff check connector integrations tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(VENV)/.installed
	$(BIN)/python bench/send_throughput.py

clean:
	rm -rf $(VENV) instance .pytest_cache frontend/node_modules connector/static/admin widget/node_modules connector/static/storefront
