#!/usr/bin/env bash
# Prints the LibTorch folder to use (stdout), installing it first when needed (stderr shows progress).
#
# Order: a LIBTORCH the user already set; LIBTORCH_USE_PYTORCH (torch-sys asks python3 itself,
# we print nothing); otherwise the torch==2.13.0 wheel (the version tch 0.26 expects) pip-installed
# into a virtual environment under ${XDG_CACHE_HOME:-~/.cache}/bapw/. The venv also gives the Python
# cross-check tests a real PyTorch.
set -euo pipefail
TORCH_VERSION=2.13.0
if [ -n "${LIBTORCH:-}" ]; then
  if [ ! -d "$LIBTORCH/lib" ]; then
    echo "bapw: LIBTORCH=$LIBTORCH has no lib/ folder" >&2
    exit 1
  fi
  echo "$LIBTORCH"
  exit 0
fi
if [ -n "${LIBTORCH_USE_PYTORCH:-}" ]; then
  exit 0
fi
cache="${XDG_CACHE_HOME:-$HOME/.cache}/bapw"
venv="$cache/venv-torch-$TORCH_VERSION"
py="$venv/bin/python"
marker="$venv/.bapw-torch-ok"
# torchattacks is for the attack cross-check test only: a venv made before it was added gets
# it here (pinning torch so pip keeps this torch and picks the matching torchvision). A failure
# is only a warning: LibTorch itself is fine, and that test then says what is missing.
if [ -x "$py" ] && ! compgen -G "$venv/lib/python3*/site-packages/torchattacks" >/dev/null; then
  echo "bapw: installing torchattacks into $venv (for the attack cross-check test)" >&2
  "$venv/bin/pip" install --quiet "torch==$TORCH_VERSION" torchattacks >&2 ||
    echo "bapw: warning: could not install torchattacks; the cross-check test will skip" >&2
fi
if [ -f "$marker" ] && [ -d "$(cat "$marker")/lib" ]; then
  cat "$marker"
  exit 0
fi
if [ ! -x "$py" ] || ! "$py" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  echo "bapw: installing torch==$TORCH_VERSION into $venv (about 5 GB, once)" >&2
  mkdir -p "$cache"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet "torch==$TORCH_VERSION" safetensors numpy torchattacks >&2
fi
"$py" -c "import torch, os; print(os.path.dirname(torch.__file__))" > "$marker.tmp"
mv "$marker.tmp" "$marker"
cat "$marker"
