# One command sets everything up on a fresh machine and runs the tests (`make test`), one the main job
# (`make speedrun`: the tiny CPU speedrun on the builtin data, into runs/tiny).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# transformers 4.57 beside the main stack, only for the test that loads saved remote code the way older serving
# images do (installed into a separate folder so it never touches the main environment).
TRANSFORMERS4 := $(VENV)/transformers4
# TGI's Python client for the serving tests; it pins huggingface_hub < 1.0, so it goes into its own folder too.
TEXT_GENERATION := $(VENV)/text-generation-client
# lighteval 0.13 in a venv of its own (it pins latex2sympy2_extended==1.0.6 against math-verify 0.9 and breaks on
# huggingface_hub 2.x), with transformers 4.57 / huggingface_hub 0.36; hfchat is not installed there: models load
# through their remote code and tasks from hfchat/evaluation/lighteval_tasks.py (tests/test_lighteval.py).
LIGHTEVAL := $(VENV)/lighteval-env
# The web page test drives Debian's chromium (no browser download); root installs it, others get a skip.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)

SPEEDRUN_DIR ?= runs/tiny

.PHONY: setup test speedrun clean chromium

setup: $(VENV)/.installed $(TRANSFORMERS4)/.installed $(TEXT_GENERATION)/.installed $(LIGHTEVAL)/.installed \
	chromium

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e ".[dev]"
	touch $@

$(TRANSFORMERS4)/.installed: $(VENV)/.installed
	$(PY) -m pip install --no-deps --target $(TRANSFORMERS4) "transformers==4.57.*" "huggingface_hub==0.36.*" "tokenizers==0.22.*"
	touch $@

$(TEXT_GENERATION)/.installed: $(VENV)/.installed
	$(PY) -m pip install --no-deps --target $(TEXT_GENERATION) "text-generation==0.7.0"
	touch $@

# xxhash 4 refuses the str prompts lighteval hashes; hfchat/evaluation/lighteval_offline.py lets lighteval start offline.
$(LIGHTEVAL)/.installed: hfchat/evaluation/lighteval_offline.py | $(VENV)/.installed
	$(PYTHON) -m venv $(LIGHTEVAL)
	$(LIGHTEVAL)/bin/python -m pip install --upgrade pip
	$(LIGHTEVAL)/bin/python -m pip install torch==2.13.0
	$(LIGHTEVAL)/bin/python -m pip install lighteval==0.13.0 "transformers==4.57.*" "huggingface_hub==0.36.*" "xxhash<4"
	$(LIGHTEVAL)/bin/python hfchat/evaluation/lighteval_offline.py
	touch $@

chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq --no-install-recommends chromium; } || \
		echo "chromium could not be installed: the web page test will be skipped"

test: setup
	$(PY) -m pytest

speedrun: $(VENV)/.installed
	$(VENV)/bin/hfchat speedrun --preset tiny --output-dir $(SPEEDRUN_DIR)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
