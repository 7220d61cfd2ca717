# 客户档案 — `make run` starts the dashboard, `make test` runs every test (see README.md).
SHELL := /bin/bash

VENV := .venv
PY := $(VENV)/bin/python
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)

# Stamps named after the requirement files' content: editing a requirements file changes the
# name, so the next `make` reinstalls; an unchanged file installs nothing.
REQ_HASH := $(shell cat requirements.txt | sha1sum | cut -c1-12)
DEV_HASH := $(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)
VENV_STAMP := $(VENV)/.req-$(REQ_HASH)
DEV_STAMP := $(VENV)/.dev-$(DEV_HASH)

# apt-get as root, else through sudo when there is one.
SUDO := $(shell [ "$$(id -u)" = 0 ] || ! command -v sudo >/dev/null 2>&1 || echo sudo)

.PHONY: venv run test-deps test test-fast test-shifted lint bench

venv: $(VENV_STAMP)

$(VENV_STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements.txt
	@rm -f $(VENV)/.req-*
	@touch $@

# MALLOC_ARENA_MAX=2: each session's script runs in its own thread, and glibc's per-thread arenas
# kept 1,045 MB with 20 sessions at work where two kept 874 MB (bench/bench_load.py, same speed).
run: venv
	$(PY) -m crm seed --if-empty
	MALLOC_ARENA_MAX=2 $(PY) -m streamlit run app.py --server.port 8501 --server.headless true --client.toolbarMode minimal

test-deps: $(DEV_STAMP) system-deps

$(DEV_STAMP): $(VENV_STAMP) requirements-dev.txt
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	@rm -f $(VENV)/.dev-*
	@touch $@

# Browser tests drive the Debian chromium (Playwright's own download is not used) and need CJK fonts;
# the shifted-clock pass runs the suite under Debian's faketime.
.PHONY: system-deps
system-deps:
	@if [ ! -x /usr/bin/chromium ] || ! dpkg -s fonts-noto-cjk >/dev/null 2>&1 || ! command -v faketime >/dev/null; then \
		echo "installing chromium, fonts-noto-cjk and faketime"; \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium fonts-noto-cjk faketime; \
	fi

test: test-deps
	$(PY) -m pytest -q

# Every test but the browser ones (quicker while working).
test-fast: test-deps
	$(PY) -m pytest -q -m "not browser"

# The non-browser tests once more with the system clock moved SHIFT ahead (default 400 days): a
# test that only passes on the day it was written fails here. `-f '+Nd'` keeps time.sleep working.
SHIFT ?= +400d
test-shifted: test-deps
	faketime -f '$(SHIFT)' $(PY) -m pytest -q -m "not browser" -p no:cacheprovider

lint: test-deps
	$(PY) -m ruff check .

bench: venv
	$(PY) bench/run_all.py
