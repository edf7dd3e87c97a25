# `make run`: set up and start the app (`make run PORT=8600` serves it on another port; Streamlit's own default,
# 8501, or .streamlit/config.toml's, otherwise). `make test`: set up and run every test.
# `make test-fast`: the tests not marked slow (no embedded model on real inputs, no browser), in minutes.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test test-fast bench setup debian

$(VENV)/.runtime: requirements.txt requirements-nodeps.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	touch $@

$(VENV)/.test: $(VENV)/.runtime requirements-test.txt
	$(PY) -m pip install --quiet -r requirements-test.txt
	touch $@

setup: $(VENV)/.runtime

# the port to serve on; empty: Streamlit's default
PORT ?=

run: $(VENV)/.runtime
	$(PY) -m streamlit run app.py $(if $(strip $(PORT)),--server.port $(PORT))

# the browser for the end-to-end tests; fonts for Chinese, Japanese and Korean in PDF reports
DEBIAN_PACKAGES := chromium fonts-droid-fallback fonts-nanum

debian:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	[ -z "$$missing" ] || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; }

test: $(VENV)/.test debian
	$(PY) -m pytest

test-fast: $(VENV)/.test
	$(PY) -m pytest -m "not slow"

bench: $(VENV)/.test
	$(PY) -m bench.bench_cams
	$(PY) -m bench.bench_batch
	$(PY) -m bench.bench_gradients
	$(PY) -m bench.bench_perturbation
	$(PY) -m bench.bench_text
	$(PY) -m bench.bench_tabular
	$(PY) -m bench.bench_shap_kl
	$(PY) -m bench.bench_craft
	$(PY) -m bench.bench_neuron_path
	$(PY) -m bench.bench_metrics
	$(PY) -m bench.bench_generation
	$(PY) -m bench.bench_estimates --quick
	$(PY) -m bench.bench_concurrency
