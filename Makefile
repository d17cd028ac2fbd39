# Airlock: two commands. `make run` and `make test` work on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run serve test lint bench clean-var

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Airlock needs Python 3.11+")'
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml clients/python/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet -e './clients/python[mcp,langchain]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/python scripts/run.py

# The production web process (docs/deploy.md): gunicorn, one uvicorn worker per core, decide
# and verify on Django's WSGI handler. Only the web: run migrations first, and the Celery
# worker and beat as their own processes (deploy/Procfile). PORT (8000) and HOST (127.0.0.1).
serve: $(STAMP)
	$(BIN)/gunicorn -c deploy/gunicorn.conf.py airlock.asgi:application

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

# Every bench that ends with a RESULT line (bench/README.md), each on its own database on the
# local PostgreSQL where it needs one; ~40 min in all, most of it seeding a million rows twice.
bench: $(STAMP)
	$(BIN)/python bench/policy_eval.py
	$(BIN)/python bench/decide_http.py
	$(BIN)/python bench/escalate_cost.py
	$(BIN)/python bench/decide_growth.py
	$(BIN)/python bench/scale_out.py
	$(BIN)/python bench/api_threads.py
	$(BIN)/python bench/client_overhead.py
	$(BIN)/python bench/shadow_overhead.py
	$(BIN)/python bench/queue_page.py
	$(BIN)/python bench/facts_trace.py
	$(BIN)/python bench/suggestions.py
