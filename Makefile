# lunar-hil: the two commands a new user needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The demo streams APEX 1.0 into the embedded ground receiver with the live view.
DEMO_ARGS ?= --profile apex-1.0 --band X --speed 1 --duration 120

.PHONY: demo test bench lint typecheck sysdeps venv clean

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/lunar-hil run $(DEMO_ARGS)

# System packages the tests use for real: libfec (independent RS/Viterbi
# reference) and mosquitto (a real MQTT broker). Installed with apt-get when
# missing and we are root; otherwise we say what is missing and stop.
sysdeps:
	@missing=""; \
	ldconfig -p | grep -q 'libfec.so.0' || missing="$$missing libfec0 libfec-dev"; \
	command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing="$$missing mosquitto"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing system packages:$$missing (run: sudo apt-get install$$missing)"; exit 1; \
	  fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check emulator drivers profiles firmware_stubs tests benchmarks

# mypy reads the folders under their installed names through a symlink tree
# (.typecheck/lunar_hil/NAME -> NAME), since the editable install maps them with
# an import hook that mypy does not run.
typecheck: $(STAMP)
	@mkdir -p .typecheck/lunar_hil
	@for d in emulator drivers profiles firmware_stubs; do ln -sfn ../../$$d .typecheck/lunar_hil/$$d; done
	MYPYPATH=.typecheck $(BIN)/mypy -p lunar_hil.emulator.ccsds

test: sysdeps $(STAMP) lint typecheck
	$(BIN)/pytest -n 2 -q
	$(BIN)/lunar-hil bench --quick

bench: $(STAMP)
	$(BIN)/lunar-hil bench
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) .typecheck .pytest_cache .mypy_cache .ruff_cache .hypothesis
