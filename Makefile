# Two commands on a fresh machine: `make run` and `make test`. Both install into .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install run test clean

install: $(STAMP)

# Reinstall only when the declared dependencies change.
$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

# The main job: a Neural Operator Search on the embedded default (conf/search.yaml).
run: install
	$(VENV)/bin/nos-search

test: install
	$(PY) -m pytest

clean:
	rm -rf $(VENV) build *.egg-info
