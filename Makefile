# The few commands everyone runs. `make demo` and `make test` are the two in the README.
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup services demo test lint check pytest bench soak fuzz clean

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

SOAK_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/callcase_soak
SOAK_REDIS_URL ?= redis://127.0.0.1:6379/13
SOAK_MINUTES ?= 30

# The long soak (issue 11): SOAK_MINUTES at the telephony target, then 10x overload.
# `make soak SOAK_MINUTES=480` is the release check.
soak: setup services
	$(PY) bench/soak.py --minutes $(SOAK_MINUTES) --calls 200 --cps 20 --overload 10 \
		--database-url $(SOAK_DATABASE_URL) --redis-url $(SOAK_REDIS_URL) --json var/soak.json

FUZZ_EXAMPLES ?= 20000
API_FUZZ_EXAMPLES ?= 100

# The long fuzz runs (issue 11, docs/security.md): the SIP and SDP parsers with
# FUZZ_EXAMPLES per property (CI: 300), the API with API_FUZZ_EXAMPLES per operation
# (CI: 5). About 2 and 2.5 minutes at the defaults on a 2-core machine.
fuzz: setup services
	CALLCASE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(VENV)/bin/pytest tests/security/test_sip_fuzz.py \
		-q -p no:cacheprovider --timeout=0 --hypothesis-show-statistics
	CALLCASE_API_FUZZ_EXAMPLES=$(API_FUZZ_EXAMPLES) $(VENV)/bin/pytest \
		tests/security/test_api_fuzz.py -q -p no:cacheprovider --timeout=0

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
