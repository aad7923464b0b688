# lunar-hil: the two commands a new user needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The demo streams APEX 1.0 into the embedded ground receiver with the live view.
DEMO_ARGS ?= --profile apex-1.0 --band X --speed 1 --duration 120

.PHONY: demo test bench lint typecheck sysdeps venv clean gallery

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/lunar-hil run $(DEMO_ARGS)

# System packages the tests use for real: libfec (independent RS/Viterbi
# reference), mosquitto and mosquitto-clients (a real MQTT broker; the README's
# mosquitto_sub example), and gnuradio + gr-satellites (a real
# SDR receiver decodes our IQ; they run under the system python3). Installed with apt-get when
# missing and we are root; otherwise we say what is missing and stop.
sysdeps:
	@missing=""; \
	ldconfig -p | grep -q 'libfec.so.0' || missing="$$missing libfec0 libfec-dev"; \
	command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || missing="$$missing mosquitto"; \
	command -v mosquitto_sub >/dev/null || missing="$$missing mosquitto-clients"; \
	/usr/bin/python3 -c 'from gnuradio import gr' 2>/dev/null || missing="$$missing gnuradio"; \
	[ -x /usr/bin/gr_satellites ] || missing="$$missing gr-satellites"; \
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
	MYPYPATH=.typecheck $(BIN)/mypy -p lunar_hil.emulator.ccsds -p lunar_hil.emulator.downlink -p lunar_hil.drivers \
	  -m lunar_hil.emulator.binding

test: sysdeps $(STAMP) lint typecheck
	$(BIN)/pytest -n 2 -q
	$(BIN)/lunar-hil bench --quick

bench: $(STAMP)
	$(BIN)/lunar-hil bench
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) .typecheck .pytest_cache .mypy_cache .ruff_cache .hypothesis

# The README's figures, regenerated from project commands: the HAKUTO-R M1
# altitude-sensor anomaly, a Series 3 (heaters) night against an APEX 1.0 (RPS)
# night, each shipped profile's own night (night-PROFILE.png), and a links
# timeline. The night profiles in docs/gallery/profiles/
# extend the shipped ones with housekeeping every 100 s, so 14 days decode fast.
GALLERY := docs/gallery
GALLERY_TMP := .gallery-work
gallery: $(STAMP)
	@mkdir -p $(GALLERY_TMP)
	$(BIN)/lunar-hil run --profile hakuto-r-m1 --scenario descent-lrf-anomaly --speed max --out file:$(GALLERY_TMP)/m1.cadu
	$(BIN)/lunar-hil decode --profile hakuto-r-m1 $(GALLERY_TMP)/m1.cadu --params-out $(GALLERY_TMP)/m1.jsonl
	$(BIN)/lunar-hil plot $(GALLERY_TMP)/m1.jsonl --preset descent --title "HAKUTO-R M1: altitude-sensor anomaly replay" --out $(GALLERY)/m1-anomaly.png
	for p in series-3 apex-1.0; do \
	  $(BIN)/lunar-hil run --profile $(GALLERY)/profiles/$$p-night.yaml --scenario lunar-night --speed max --out file:$(GALLERY_TMP)/$$p.cadu && \
	  $(BIN)/lunar-hil decode --profile $(GALLERY)/profiles/$$p-night.yaml $(GALLERY_TMP)/$$p.cadu --params-out $(GALLERY_TMP)/$$p-night.jsonl || exit 1; \
	done
	$(BIN)/lunar-hil plot $(GALLERY_TMP)/series-3-night.jsonl $(GALLERY_TMP)/apex-1.0-night.jsonl --preset night --title "14-day lunar night: Series 3 (heaters) vs APEX 1.0 (RPS)" --out $(GALLERY)/night-series3-vs-apex.png
	for p in series-2 hakuto-r-m1 lupex; do \
	  $(BIN)/lunar-hil run --profile $(GALLERY)/profiles/$$p-night.yaml --scenario lunar-night --speed max --out file:$(GALLERY_TMP)/$$p.cadu && \
	  $(BIN)/lunar-hil decode --profile $(GALLERY)/profiles/$$p-night.yaml $(GALLERY_TMP)/$$p.cadu --params-out $(GALLERY_TMP)/$$p-night.jsonl || exit 1; \
	done
	for p in apex-1.0 series-3 series-2 hakuto-r-m1 lupex; do \
	  $(BIN)/lunar-hil plot $(GALLERY_TMP)/$$p-night.jsonl --preset night --title "$$p: 14-day lunar night" --out $(GALLERY)/night-$$p.png || exit 1; \
	done
	$(BIN)/lunar-hil run --profile $(GALLERY)/profiles/apex-1.0-night.yaml --scenario surface-nominal --speed max --duration 172800 --out file:$(GALLERY_TMP)/links.cadu
	$(BIN)/lunar-hil decode --profile $(GALLERY)/profiles/apex-1.0-night.yaml $(GALLERY_TMP)/links.cadu --params-out $(GALLERY_TMP)/links.jsonl
	$(BIN)/lunar-hil plot $(GALLERY_TMP)/links.jsonl --preset links --title "APEX 1.0 links over 2 days on the surface" --out $(GALLERY)/links-timeline.png
	$(BIN)/lunar-hil links apex-1.0 --days 28 --plot $(GALLERY)/links-visibility.png > /dev/null
	rm -rf $(GALLERY_TMP)
