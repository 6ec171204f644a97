# Two commands on a fresh machine: `make demo` and `make test`. Both install what they need.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STACK ?= dev
INSTALLED := $(VENV)/.installed

.PHONY: setup demo test lint preview clean

setup: $(INSTALLED)

$(INSTALLED): requirements.txt requirements-dev.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $@

demo: setup
	$(PY) -m scripts.preview dev --json build/preview-dev.json --render-k8s build/k8s/dev

test: setup
	$(PY) -m pytest -q -n 2

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

preview: setup
	$(PY) -m scripts.preview $(STACK) --json build/preview-$(STACK).json --render-k8s build/k8s/$(STACK)

clean:
	rm -rf build
