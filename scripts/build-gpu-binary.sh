#!/usr/bin/env bash
# Builds the bapw binary for the GPU machine (`make gpu-build`): LibTorch 2.11 through tch 0.24,
# stripped, with no rpath, in target/gpu-carry/ beside MNIST as .gz files; that folder is what
# the device `run` tool carries (under 64 MiB) for scripts/gpu-check.sh.
#
# Why a second manifest: the GPU machine's python3 holds torch 2.11.0+cu130 and has no Rust, so
# the binary is built here against the same torch. tch 0.26 (Cargo.toml) expects torch 2.13 and
# its generated C++ calls ops 2.11 does not have (`_philox_*`, ...), so
# LIBTORCH_BYPASS_VERSION_CHECK cannot help; tch 0.24 is the release for 2.11. Cargo refuses a
# feature with two optional `tch` versions (both torch-sys declare `links = "tch"`, and the
# resolver rejects that even when one is never enabled). So this script writes a manifest of
# its own, target/torch-2.11/manifest/Cargo.toml: Cargo.toml with `tch = "=0.24.0"` and the
# same sources and build.rs by absolute path, and Cargo.lock copied so every other crate is the
# version the normal build uses. BAPW_GPU_BUILD=1 makes build.rs link libtorch_cuda (the
# linker's --as-needed drops it otherwise, and CUDA is then never available) and write no
# rpath (the binary finds the GPU machine's torch through LD_LIBRARY_PATH). The normal build
# (target/release, torch 2.13) is untouched.
#
# Env: XDG_CACHE_HOME (venv location), BAPW_MNIST_DIR (MNIST IDX folder to pack; default: the
# one `bapw data list` reports, skipped with a note when there is none).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
TORCH_VERSION=2.11.0
TCH_VERSION=0.24.0
cache="${XDG_CACHE_HOME:-$HOME/.cache}/bapw"
venv="$cache/venv-torch-$TORCH_VERSION"
py="$venv/bin/python"
work="$root/target/torch-2.11"
manifest_dir="$work/manifest"
carry="$root/target/gpu-carry"

# 1. torch 2.11 in its own venv (PyPI's Linux wheel is 2.11.0+cu130, as on the GPU machine).
if [ ! -x "$py" ] || ! "$py" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  echo "gpu-build: installing torch==$TORCH_VERSION into $venv (about 5 GB, once)" >&2
  mkdir -p "$cache"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "torch==$TORCH_VERSION" safetensors numpy
fi
# The GPU machine's python3 has safetensors and numpy beside torch (the peer script uses them).
"$py" -c "import safetensors, numpy" 2>/dev/null || "$venv/bin/pip" install --quiet safetensors numpy
torch_dir=$("$py" -c "import torch, os; print(os.path.dirname(torch.__file__))" 2>/dev/null)
[ -d "$torch_dir/lib" ] || { echo "gpu-build: no lib/ in $torch_dir" >&2; exit 1; }

# 2. The manifest: Cargo.toml with the one tch line swapped, every path absolute.
mkdir -p "$manifest_dir"
n_tch=$(grep -c '^tch = "0\.26"$' Cargo.toml || true)
n_build=$(grep -c '^build = "build.rs"$' Cargo.toml || true)
if [ "$n_tch" != 1 ] || [ "$n_build" != 1 ]; then
  echo "gpu-build: Cargo.toml no longer has exactly one 'tch = \"0.26\"' and one 'build = \"build.rs\"' line; update this script" >&2
  exit 1
fi
{
  echo "# Written by scripts/build-gpu-binary.sh from Cargo.toml: do not edit."
  sed -e "s/^tch = \"0\\.26\"\$/tch = \"=$TCH_VERSION\"/" \
      -e "s|^build = \"build.rs\"\$|build = \"$root/build.rs\"|" \
      -e '/^\[package\]$/a autotests = false\nautobenches = false\nautoexamples = false' \
      -e '/^\[\[bench\]\]$/,/^$/d' \
      Cargo.toml
  printf '\n[lib]\npath = "%s/src/lib.rs"\n\n[[bin]]\nname = "bapw"\npath = "%s/src/main.rs"\n\n[workspace]\n' "$root" "$root"
} > "$manifest_dir/Cargo.toml.tmp"
mv "$manifest_dir/Cargo.toml.tmp" "$manifest_dir/Cargo.toml"
cp Cargo.lock "$manifest_dir/Cargo.lock"

# 3. Build. LIBTORCH_CXX11_ABI: the wheel uses the new C++ ABI.
echo "gpu-build: building against $torch_dir (tch $TCH_VERSION)" >&2
env -u LIBTORCH_BYPASS_VERSION_CHECK -u LIBTORCH_USE_PYTORCH BAPW_GPU_BUILD=1 \
  LIBTORCH="$torch_dir" LIBTORCH_CXX11_ABI=1 CARGO_TARGET_DIR="$work" \
  cargo build --release --manifest-path "$manifest_dir/Cargo.toml" --bin bapw
bin="$work/release/bapw"

# 4. Strip, and check what the loader will do: libtorch.so (which pulls in libtorch_cuda) is
# needed, and nothing points at this machine's LibTorch.
mkdir -p "$carry"
strip -o "$carry/bapw.tmp" "$bin"
if readelf -d "$carry/bapw.tmp" | grep -E 'RPATH|RUNPATH'; then
  echo "gpu-build: the binary has an rpath; it must find torch through LD_LIBRARY_PATH" >&2
  exit 1
fi
if ! readelf -d "$carry/bapw.tmp" | grep -q 'Shared library: \[libtorch.so\]'; then
  echo "gpu-build: the binary does not need libtorch.so, so CUDA would never load" >&2
  exit 1
fi
mv "$carry/bapw.tmp" "$carry/bapw"

# 5. MNIST as .gz (bapw data fetch mnist --from imports them on the GPU machine).
mnist=${BAPW_MNIST_DIR:-}
if [ -z "$mnist" ] && [ -x target/release/bapw ]; then
  mnist=$(target/release/bapw data list 2>/dev/null | awk '$1=="mnist"{print $NF}')
fi
if [ -n "$mnist" ] && [ -f "$mnist/train-images-idx3-ubyte" ]; then
  mkdir -p "$carry/mnist"
  for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    [ -f "$carry/mnist/$f.gz" ] || gzip -9 -n -c "$mnist/$f" > "$carry/mnist/$f.gz"
  done
else
  echo "gpu-build: no MNIST found (set BAPW_MNIST_DIR or run bapw data fetch mnist): the carry folder has none, and gpu-check skips the MNIST steps" >&2
fi

bytes=$(du -sb "$carry" | cut -f1)
echo "gpu-build: $carry/bapw $(stat -c %s "$carry/bapw") bytes; carry folder $bytes bytes ($((bytes / 1048576)) MiB of 64 MiB)"
[ "$bytes" -lt $((64 * 1048576)) ] || { echo "gpu-build: the carry folder is over 64 MiB" >&2; exit 1; }
