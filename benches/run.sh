#!/usr/bin/env bash
# Measures bapw against its eager-PyTorch peer (tests/python/bap_peer.py; BAPW_REFERENCE=PATH
# times another script with the same command line instead) on this machine: both programs in
# one run, alternating, REPEATS times per mode; writes the medians and ratios to
# benches/results.md. Usage: benches/run.sh [STEPS_NATURAL] [STEPS_BAP] [REPEATS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
N_NAT=${1:-60}
N_BAP=${2:-8}
REPEATS=${3:-3}
THREADS=${4:-2}
BAPW=target/release/bapw
LIBTORCH_DIR=${LIBTORCH:-$(scripts/libtorch.sh)}
PY=${BAPW_PYTHON:-$LIBTORCH_DIR/../../../../bin/python}
REF=${BAPW_REFERENCE:-tests/python/bap_peer.py}
DATA=${BAPW_MNIST_DIR:-$($BAPW data list | awk '$1=="mnist"{print $NF}')}
[ -f "$DATA/train-images-idx3-ubyte" ] || { echo "MNIST not found: run bapw data fetch mnist" >&2; exit 1; }
out=benches/results.md
tmp=$(mktemp)
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
field() { python3 -c "import json,sys; print(round(json.loads(sys.stdin.readline())['$1'], 1))"; }
{
  echo "# bapw vs its PyTorch peer"
  echo
  echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $THREADS threads, batch 128,"
  echo "median of $REPEATS alternating runs per program. Command: \`benches/run.sh $N_NAT $N_BAP $REPEATS $THREADS\`."
  echo "Peer: \`$REF\`."
  echo
  echo "| mode | steps | peer samples/s | bapw samples/s | ratio |"
  echo "|---|---|---|---|---|"
} > "$tmp"
for mode in natural adversarial bap; do
  ref_mode=$mode; [ $mode = adversarial ] && ref_mode=fgsm
  steps=$N_NAT; [ $mode = bap ] && steps=$N_BAP
  refs=(); ours=()
  for _ in $(seq "$REPEATS"); do
    refs+=("$("$PY" "$REF" --data "$DATA" --mode $ref_mode --steps "$steps" --threads "$THREADS" | field samples_per_s)")
    ours+=("$($BAPW bench --mode $mode --steps "$steps" --threads "$THREADS" --json | field samples_per_s)")
  done
  r=$(printf '%s\n' "${refs[@]}" | median)
  o=$(printf '%s\n' "${ours[@]}" | median)
  ratio=$(python3 -c "print(f'{$o/$r:.2f}x')")
  echo "| $mode | $steps | $r | $o | $ratio |" >> "$tmp"
  echo "$mode: peer $r, bapw $o ($ratio)" >&2
done
mv "$tmp" "$out"
cat "$out"
