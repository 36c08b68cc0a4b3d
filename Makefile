# dr-console: developer and CI entry points.
#   make test   system deps, venv, lab up, the whole suite, lab down (always)
#   make demo   the console against the local lab

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
LAB_DIR ?= .lab
LAB := $(VENV)/bin/python -m dr_console.lab

.PHONY: venv deps lab-up lab-down lab-status demo test lint bench screenshots

# The venv is made once; pip runs again only when pyproject.toml changes.
$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/pip install -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

deps:
	./scripts/install-system-deps.sh

lab-up: venv
	$(LAB) up --dir $(LAB_DIR)

lab-down:
	@if [ -x $(VENV)/bin/python ]; then $(LAB) down --dir $(LAB_DIR); fi

lab-status:
	$(LAB) status --dir $(LAB_DIR)

demo: deps venv lab-up
	$(VENV)/bin/dr-console --site $(LAB_DIR)/site.yaml

# The lab always comes down, and pytest's exit code is the target's (or 1 when
# `lab down` finds a loop device, mount or process of the lab left behind).
test: deps venv
	$(MAKE) lint
	$(MAKE) lab-up
	DR_LAB_DIR=$(abspath $(LAB_DIR)) DR_REQUIRE_LAB=1 $(VENV)/bin/pytest; rc=$$?; \
	$(MAKE) lab-down || rc=$$(( rc ? rc : 1 )); exit $$rc

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

# Every figure beside its baseline, in one run against the running lab:
# inventory refresh and start-up, the console, a restore of a RESTORE_MB
# (uncompressed) dump on the lab's tuned MariaDB and on a stock one the bench
# starts itself, then a drill of the payload volume PAYLOAD_VOLUME against the
# same work by hand (openstack CLI and ssh). Prints them side by side and
# writes $(BENCH_DIR)/results.json; scripts/readme_figures.py turns that into the
# README's "Measured" section. Quick check: make bench RESTORE_MB=50
RESTORE_MB ?= 1000
PAYLOAD_VOLUME ?= app-media
BENCH_DIR ?= .bench
bench: deps venv
	$(MAKE) lab-up
	rm -rf $(BENCH_DIR)/parts $(BENCH_DIR)/results.json
	mkdir -p $(BENCH_DIR)/parts
	set -o pipefail; export DR_BENCH_RUN=$$(date -u +%Y%m%dT%H%M%SZ) DR_LAB_DIR=$(abspath $(LAB_DIR)); \
	$(VENV)/bin/python tests/bench/bench_inventory.py --out $(BENCH_DIR)/parts/inventory.json && \
	$(VENV)/bin/python tests/bench/bench_tui.py | tee $(BENCH_DIR)/parts/tui.txt && \
	$(VENV)/bin/python tests/bench/bench_restore.py --site $(abspath $(LAB_DIR))/site.yaml \
		--size-mb $(RESTORE_MB) --out $(BENCH_DIR)/parts/restore.json && \
	$(VENV)/bin/python tests/bench/bench_payload.py --site $(abspath $(LAB_DIR))/site.yaml \
		--volume $(PAYLOAD_VOLUME) --out $(BENCH_DIR)/parts/payload.json && \
	$(VENV)/bin/python tests/bench/summary.py --parts $(BENCH_DIR)/parts --out $(BENCH_DIR)/results.json

# SVGs of each screen, against the lab, for the README.
screenshots: venv
	$(MAKE) lab-up
	$(VENV)/bin/python scripts/screenshots.py --site $(LAB_DIR)/site.yaml --out screenshots
