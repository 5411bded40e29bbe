# The few commands everyone runs. `make demo` and `make test` are the two in the README.
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup services demo test lint check pytest bench clean

setup:
	bash .ci/setup.sh

services:
	bash .ci/services.sh

DEMO_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/callcase_demo

demo: setup services
	CALLCASE_DATABASE_URL=$(DEMO_DATABASE_URL) $(VENV)/bin/callcase demo

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

pytest: setup services
	$(VENV)/bin/pytest

test: lint pytest

bench: setup services
	$(PY) bench/import_bench.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
