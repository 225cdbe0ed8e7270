# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed-stamp
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: demo test bench lint portal portal-stop clean

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/convive demo

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest

bench: $(STAMP)
	$(VENV)/bin/python bench/run_all.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf demo/work .pytest_cache

# A real local CKAN portal (see docs/ckan-portal.md); `make demo PUBLISH_CKAN=1` publishes to it.
PORTAL_DIR ?= .convive/portal
PORTAL_PORT ?= 5050
portal: $(STAMP)
	$(VENV)/bin/python scripts/ckan_portal.py install
	$(VENV)/bin/python scripts/ckan_portal.py start --port $(PORTAL_PORT) --state-dir $(PORTAL_DIR)

portal-stop:
	$(VENV)/bin/python scripts/ckan_portal.py stop --state-dir $(PORTAL_DIR)
