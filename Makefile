# The two commands: `make run` and `make test` (see README.md); `make lint` runs before the tests in CI.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint venv

venv: $(STAMP)

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $(STAMP)

run: $(STAMP)
	$(PY) manage.py run_app

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# The import contracts (layers; the engine never imports the app or Django), ruff and mypy: README "Architecture".
lint: $(STAMP)
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check labelapp sslengine tests benchmarks
	$(PY) -m mypy
