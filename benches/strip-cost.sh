#!/usr/bin/env bash
# What the workbench's GPU strip (its sampler thread) costs a training run: the same smoke
# workload trained in the workbench (under tmux, 120x40) with the strip shown and hidden,
# alternating, REPEATS pairs. Prints the engine's wall seconds of each run (its `finished`
# event) and the medians. Usage: benches/strip-cost.sh [REPEATS] [EPOCHS]
set -euo pipefail
repeats=${1:-4}
epochs=${2:-300}
bin=${BAPW_BIN:-$(dirname "$0")/../target/release/bapw}
work=$(mktemp -d)
trap 'tmux -L bapw-strip-cost kill-server 2>/dev/null || true; rm -rf "$work"' EXIT
seconds() { # run folder -> the finished event's seconds
  grep '"kind":"finished"' "$1/events.jsonl" | sed 's/.*"seconds":\([0-9.e+-]*\).*/\1/'
}
one() { # shown(true|false) name
  local cfg="$work/config-$1"
  mkdir -p "$cfg"
  echo "gpu_strip = $1" >"$cfg/settings.toml"
  tmux -L bapw-strip-cost -f /dev/null new-session -d -s cost -x 120 -y 40 \
    "env BAPW_DATA_DIR=$work/data BAPW_CONFIG_DIR=$cfg $bin train --preset smoke \
     --set train.epochs=$epochs --set eval.every=0 --set checkpoint.every=0 --name $2"
  local dir="$work/data/runs/$2"
  until [ -f "$dir/events.jsonl" ] && grep -q '"kind":"finished"' "$dir/events.jsonl"; do
    sleep 0.5
  done
  tmux -L bapw-strip-cost kill-server 2>/dev/null || true
  seconds "$dir"
}
on=(); off=()
for i in $(seq 1 "$repeats"); do
  on+=("$(one true "on-$i")")
  off+=("$(one false "off-$i")")
  echo "pair $i: strip shown ${on[-1]} s, hidden ${off[-1]} s"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "median: shown $(median "${on[@]}") s, hidden $(median "${off[@]}") s ($repeats pairs, $epochs epochs of smoke)"
