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
# The venv's Python (torch + safetensors) runs the PyTorch cross-checks; when it is ours they
# are required, otherwise (your own LIBTORCH) they run only if BAPW_PYTHON points at one.
VENV_PYTHON := $(abspath $(LIBTORCH_DIR)/../../../../bin/python)
ifneq ($(wildcard $(VENV_PYTHON)),)
TEST_ENV := BAPW_PYTHON=$${BAPW_PYTHON:-$(VENV_PYTHON)} BAPW_REQUIRE_PYTHON=1
endif


.PHONY: run build test lint data bench fmt sweep-quick readme-report gpu-build gpu-check-cpu slurm

## make run: build, fetch MNIST when missing, open the workbench on the default preset.
run: build data
	$(BAPW) $(ARGS)

## make build: release build of target/release/bapw.
build:
	$(CARGO) build --release --locked

## make data: fetch MNIST into the user data folder when it is not there yet.
data: build
	$(BAPW) data fetch mnist --if-missing

## make test: everything CI runs: lint, then the whole test suite (needs MNIST, tmux and, for
## the Slurm backend's tests, Slurm's packages: installed when missing, which needs root).
test: data lint slurm
	command -v tmux >/dev/null || { echo "make test: tmux is needed for the TUI end-to-end test (apt-get install tmux)" >&2; exit 1; }
	BAPW_REQUIRE_MNIST=1 BAPW_REQUIRE_TMUX=1 BAPW_REQUIRE_SLURM=1 $(TEST_ENV) $(CARGO) test --release --locked -- --test-threads=2

## make slurm: install slurmctld, slurmd and slurm-client (Debian) when sbatch is missing; the
## tests start a throwaway one-node cluster with them (scripts/slurm-local.sh).
slurm:
	scripts/slurm-local.sh install

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --release --locked --all-targets -- -D warnings

bench: build
	benches/run.sh

fmt:
	$(CARGO) fmt

## make sweep-quick: the quick MNIST sweep (48 runs, about an hour on 2 CPU cores) and its report,
## in <data dir>/sweeps/quick-mnist (run it again to continue an interrupted sweep).
sweep-quick: build data
	$(BAPW) sweep presets/sweeps/quick-mnist.toml $(ARGS)

## make readme-report: put that sweep's report into README.md and docs/sweeps/quick-mnist/
## (numbers and plots as the sweep produced them).
readme-report: build
	$(BAPW) report quick-mnist --out docs/sweeps/quick-mnist --embed README.md

## make gpu-build: the binary for the GPU machine (torch 2.11 through tch 0.24, stripped, no
## rpath) and MNIST as .gz in target/gpu-carry/, the folder the device tool carries
## (scripts/build-gpu-binary.sh; torch 2.11 goes into its own venv beside the 2.13 one).
gpu-build: data
	scripts/build-gpu-binary.sh

## make gpu-check-cpu: scripts/gpu-check.sh's steps on the CPU with that binary against the
## torch 2.11 venv's libraries (results in target/gpu-check-cpu/).
GPU_VENV_PYTHON := $${XDG_CACHE_HOME:-$$HOME/.cache}/bapw/venv-torch-2.11.0/bin/python
gpu-check-cpu: gpu-build
	OUT=target/gpu-check-cpu scripts/gpu-check.sh --cpu --python $(GPU_VENV_PYTHON)
