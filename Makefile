# The README's commands. Each one installs LibTorch first when it is missing (scripts/libtorch.sh)
# and honours a LIBTORCH or LIBTORCH_USE_PYTORCH you already set.
SHELL := /bin/bash
CARGO ?= cargo
BAPW := target/release/bapw
# Evaluated once per make invocation; empty when LIBTORCH_USE_PYTORCH is set.
LIBTORCH_DIR := $(shell scripts/libtorch.sh)
ifneq ($(LIBTORCH_DIR),)
export LIBTORCH := $(LIBTORCH_DIR)
endif
# The torch wheel uses the new C++ ABI.
export LIBTORCH_CXX11_ABI ?= 1

.PHONY: run build test lint data bench fmt

## make run: build, fetch MNIST when missing, open the workbench on the default preset.
run: build data
	$(BAPW) $(ARGS)

## make build: release build of target/release/bapw.
build:
	$(CARGO) build --release --locked

## make data: fetch MNIST into the user data folder when it is not there yet.
data: build
	$(BAPW) data fetch mnist --if-missing

## make test: everything CI runs: lint, then the whole test suite (needs MNIST and tmux).
test: data lint
	command -v tmux >/dev/null || { echo "make test: tmux is needed for the TUI end-to-end test (apt-get install tmux)" >&2; exit 1; }
	BAPW_REQUIRE_MNIST=1 BAPW_PYTHON=$${BAPW_PYTHON:-$(LIBTORCH_DIR)/../../../../bin/python} $(CARGO) test --release --locked -- --test-threads=2

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --release --locked --all-targets -- -D warnings

bench: build
	benches/run.sh

fmt:
	$(CARGO) fmt
