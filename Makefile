# agentgraph - the two-command quick start:  make install && make run
#
#   make install   system packages (apt: redis-server, chromium) + .venv; idempotent
#   make run       install, then `agentgraph up` (Ctrl-C stops everything)
#   make test      install, then unit + integration + e2e tests (what CI runs)
#   make bench     startup benchmark of `agentgraph up` (not part of `make test`)

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# Only the suites that exist: pytest fails on a missing path.
TEST_DIRS := $(wildcard tests/unit tests/integration tests/e2e)
# No phoning home: gradio analytics, litellm's price list, the HF hub (DESIGN.md facts).
TEST_ENV := GRADIO_ANALYTICS_ENABLED=False LITELLM_LOCAL_MODEL_COST_MAP=True HF_HUB_OFFLINE=1
PYTEST_ARGS ?=

.PHONY: install run test bench

install:
	@bash scripts/install.sh

run: install
	$(VENV)/bin/agentgraph up

# pytest exits 5 when it collected no test: that is a failure here, never a pass.
test: install
	@echo "==> pytest $(TEST_DIRS)"
	@$(TEST_ENV) $(PY) -m pytest -q -rs $(TEST_DIRS) $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; fi; exit $$rc

bench: install
	$(TEST_ENV) $(PY) tests/bench/bench_up.py $(BENCH_ARGS)
