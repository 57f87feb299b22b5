# Two commands on a fresh machine: `make run` and `make test`. Both install into .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install postgres run test clean

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

# A PostgreSQL server for the multi-worker test: Debian's package when it is missing
# (the test starts its own throwaway cluster; it is skipped, saying why, without a server).
postgres:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } || \
	  echo "make: PostgreSQL could not be installed; the PostgreSQL test will be skipped"

test: install postgres
	$(PY) -m pytest

clean:
	rm -rf $(VENV) build *.egg-info
