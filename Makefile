# `make demo`: the local search end to end. `make test`: lint + the test suite.
VENV ?= .venv
PY := $(VENV)/bin/python
export LITELLM_LOCAL_MODEL_COST_MAP := True
export MLFLOW_DISABLE_TELEMETRY := true
export RAY_AUTH_MODE := disabled
export HF_HUB_OFFLINE := 1

.PHONY: demo test lint install install-dev clean chromium

$(VENV)/.installed: pyproject.toml constraints.txt scripts/install.sh
	scripts/install.sh $(VENV)
	touch $@

$(VENV)/.installed-dev: pyproject.toml constraints.txt scripts/install.sh
	scripts/install.sh $(VENV) dev
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(PY) -m search.run --preset local

# ruff, then the import-cycle check (files and packages; scripts/check_imports.py).
lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(PY) scripts/check_imports.py

# The report test opens the HTML in headless Chromium (Debian's package); install it where we can.
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| echo "chromium not installed: the browser test of the report will be skipped"

test: $(VENV)/.installed-dev lint chromium
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) data ray_results mlruns mlflow.db optuna.db .cache
