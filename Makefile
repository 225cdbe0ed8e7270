# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed-stamp
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
PORTAL_DIR ?= .convive/portal
PORTAL_PORT ?= 5050
PORTAL_FIELD = $(VENV)/bin/python -c "import json,sys; print(json.load(open('$(PORTAL_DIR)/portal.json'))[sys.argv[1]])"

.PHONY: demo test bench lint portal portal-stop clean chromium

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# `make demo PUBLISH_CKAN=1` also publishes to a local CKAN portal (started if needed).
demo: $(STAMP)
ifdef PUBLISH_CKAN
	$(VENV)/bin/python scripts/ckan_portal.py status --state-dir $(PORTAL_DIR) >/dev/null 2>&1 \
	  || $(MAKE) portal
	CONVIVE_PUBLISH_CKAN=1 \
	CONVIVE_CKAN_URL=$$($(PORTAL_FIELD) url) CONVIVE_CKAN_TOKEN=$$($(PORTAL_FIELD) api_token) \
	  $(VENV)/bin/convive demo
	@echo "Portal: $$($(PORTAL_FIELD) url)/dataset/"
else
	$(VENV)/bin/convive demo
endif

test: $(STAMP) chromium
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest

# The browser tests use Debian's chromium; install it when missing (root on these machines).
chromium:
	@command -v chromium >/dev/null || { echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

bench: $(STAMP)
	$(VENV)/bin/python bench/run_all.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf demo/work .pytest_cache

# A real local CKAN portal (see docs/ckan-portal.md); `make demo PUBLISH_CKAN=1` publishes to it.
portal: $(STAMP)
	$(VENV)/bin/python scripts/ckan_portal.py install
	$(VENV)/bin/python scripts/ckan_portal.py start --port $(PORTAL_PORT) --state-dir $(PORTAL_DIR)

portal-stop:
	$(VENV)/bin/python scripts/ckan_portal.py stop --state-dir $(PORTAL_DIR)
