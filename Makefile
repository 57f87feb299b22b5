# Two commands on a fresh machine: `make run` and `make test`. Both install into .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install system-packages run test clean

install: $(STAMP)

# Reinstall only when the declared dependencies change.
$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt torch==2.13.0
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

# The main job: a Neural Operator Search on the embedded default (conf/search.yaml).
run: install system-packages
	$(VENV)/bin/nos-search

# Debian packages the tests and experiments use, installed when missing (through apt: as root, or with
# password-less sudo):
# PostgreSQL (the multi-worker test starts its own throwaway cluster; skipped, saying why, without it),
# Fashion-MNIST (dataset-fashion-mnist: /usr/share/datasets/fashion-mnist/), and the RTL tools
# (Icarus Verilog, Verilator, Yosys) for the systolic-array co-simulation.
DEBIAN_PACKAGES := postgresql dataset-fashion-mnist iverilog verilator yosys
system-packages:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "make: installing Debian packages: $$missing"; \
	  sudo=$$([ "$$(id -u)" = 0 ] || { command -v sudo >/dev/null && echo "sudo -n"; }); \
	  { $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; } || \
	  echo "make: could not install $$missing (the tests that need them say so and are skipped)"; \
	fi

test: install system-packages
	$(PY) -m pytest

clean:
	rm -rf $(VENV) build *.egg-info
