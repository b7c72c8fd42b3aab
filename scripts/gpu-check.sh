#!/usr/bin/env bash
# The CUDA check for the GPU machine, in one call: versions, a CUDA smoke run, a short BAP run
# with evaluation on MNIST, `bapw bench` for the three modes beside the PyTorch peer
# (tests/python/bap_peer.py), the monitor's sampling cost, the out-of-memory message at an
# absurd batch size, and a bit-identical resume. Every step has a time limit inside one total
# budget, so a hang costs that step and not the session; each step passes or fails on its own.
# Writes three files into $OUT (the device tool brings back at most 8): gpu-check.json (every
# figure, pass/fail), gpu-check.md (the same as tables) and logs.tar.gz (each step's output).
#
# On the GPU machine (no network, no Rust, torch 2.11 in python3): the binary comes from
# `make gpu-build` (target/gpu-carry/bapw, stripped, linked against torch 2.11, no rpath) and
# finds LibTorch in that python's torch/lib through LD_LIBRARY_PATH, set here.
#
# Usage: scripts/gpu-check.sh [--cpu] [--bin BAPW] [--python PYTHON] [--budget SECONDS]
#   --cpu      the same steps on the CPU, smaller (to test this script on a machine without GPU)
#   --bin      default target/gpu-carry/bapw
#   --python   python with torch (default python3); its torch/lib is what bapw loads
#   --budget   total seconds for all steps (default 480 on CUDA, 3000 with --cpu, where every
#              step's own limit is 4 times longer: a shared 2-core machine can be that slow)
# Env: OUT (results folder; default target/gpu-check), BAPW_MNIST_GZ (MNIST .gz or IDX folder;
# default target/gpu-carry/mnist), BAPW_PEER (default tests/python/bap_peer.py).
# Exit code: 0 when every step passed, 1 otherwise, 2 for bad arguments.
set -uo pipefail
cd "$(dirname "$0")/.."

device=cuda
bin=target/gpu-carry/bapw
py=python3
budget=
while [ $# -gt 0 ]; do
  case $1 in
    --cpu) device=cpu ;;
    --bin) bin=$2; shift ;;
    --python) py=$2; shift ;;
    --budget) budget=$2; shift ;;
    *) echo "gpu-check: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$budget" ] || { [ $device = cuda ] && budget=480 || budget=3000; }
scale=1; [ $device = cpu ] && scale=4
out=${OUT:-target/gpu-check}
mnist_src=${BAPW_MNIST_GZ:-target/gpu-carry/mnist}
peer=${BAPW_PEER:-tests/python/bap_peer.py}
mkdir -p "$out/logs"
out=$(cd "$out" && pwd)
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
work=$(mktemp -d "${TMPDIR:-/tmp}/bapw-gpu-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
export BAPW_DATA_DIR=$work/data BAPW_CONFIG_DIR=$work/config
runs=$work/runs
results=$out/logs/results.tsv figures=$out/logs/figures.tsv
: > "$results"; : > "$figures"
start_s=$(date +%s)
deadline=$((start_s + budget))

# Sizes: on CUDA the real workloads; on the CPU enough to exercise every step in minutes.
if [ $device = cuda ]; then
  bench_steps=(natural:500 adversarial:300 bap:60) bench_threads=()
  bap_sets=() resume_epochs=60
else
  bench_steps=(natural:20 adversarial:10 bap:2) bench_threads=(--threads 2)
  bap_sets=(--set data.train_subset=640 --set data.test_subset=500 --set train.epochs=1 --set eval.subset=32)
  resume_epochs=20
fi

record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" >> "$results"; echo "gpu-check: $1: $2 ($3 s) ${4:-}" >&2; }
figure() { printf '%s\t%s\n' "$1" "$2" >> "$figures"; }
# json_field FILE KEY: KEY of the last JSON line of FILE (empty when absent).
json_field() { "$py" -c 'import json,sys
v=None
for l in open(sys.argv[1]):
    l=l.strip()
    if l.startswith("{"):
        try: v=json.loads(l)
        except ValueError: pass
print("" if v is None or v.get(sys.argv[2]) is None else v[sys.argv[2]])' "$1" "$2" 2>/dev/null; }
# limited NAME SECONDS CMD...: runs CMD with at most SECONDS (cut to what the budget has left)
# into logs/NAME.log; sets $rc and $took. rc 124: out of time; 125: skipped for lack of budget.
limited() {
  local name=$1 limit=$(($2 * scale)); shift 2
  local left=$((deadline - $(date +%s)))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -lt 5 ]; then rc=125; took=0; echo "skipped: budget spent" > "$out/logs/$name.log"; return; fi
  local t0; t0=$(date +%s%N)
  timeout -k 5 "$limit" "$@" > "$out/logs/$name.log" 2>&1
  rc=$?
  took=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
}
verdict() { # NAME OK-CONDITION-RC NOTE
  local name=$1 ok=$2 note=${3:-}
  if [ "$rc" = 125 ]; then record "$name" skipped 0 "budget spent"
  elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then record "$name" fail "$took" "timed out; $note"
  elif [ "$ok" = 1 ]; then record "$name" pass "$took" "$note"
  else record "$name" fail "$took" "exit $rc; $note (logs/$name.log)"; fi
}
# run_facts RUNDIR: key=value lines from events.jsonl (device, state, steps, accuracy, AUCs).
run_facts() { "$py" - "$1/events.jsonl" <<'EOF'
import json, sys
ev = []
for line in open(sys.argv[1]):
    try: ev.append(json.loads(line))
    except ValueError: pass
first = next((e for e in ev if e["kind"] == "run_started"), {})
fin = next((e for e in reversed(ev) if e["kind"] == "finished"), {})
evals = [e for e in ev if e["kind"] == "eval"]
print("device=%s" % first.get("device", ""))
print("state=%s" % fin.get("state", ""))
print("step=%s" % fin.get("step", ""))
print("test_acc=%s" % fin.get("test_acc", ""))
print("seconds=%s" % fin.get("seconds", ""))
print("evals=%d" % len(evals))
if evals:
    print("clean_acc=%s" % evals[-1]["clean_acc"])
    for c in evals[-1]["curves"]:
        print("auc_%s=%s" % (c["attack"], round(c["auc"], 4)))
EOF
}
fact() { grep "^$2=" <<< "$1" | head -1 | cut -d= -f2-; }
want_device() { [ $device = cuda ] && echo cuda:0 || echo cpu; }

# --- 0. where we are ------------------------------------------------------------------------
torch_dir=$("$py" -c 'import torch, os; print(os.path.dirname(torch.__file__))' 2>/dev/null)
if [ -z "$torch_dir" ] || [ ! -d "$torch_dir/lib" ]; then
  record env fail 0 "$py has no torch"
else
  export LD_LIBRARY_PATH=$torch_dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  limited env 60 bash -c '
    echo "== nvidia-smi"; nvidia-smi --query-gpu=index,name,uuid,pci.bus_id,driver_version,memory.total --format=csv 2>&1 || true
    echo "== torch"; "$1" -c "import torch, sys; print(sys.version.split()[0], torch.__version__, torch.version.cuda, torch.cuda.is_available(), torch.cuda.device_count(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else \"-\")"
    echo "== python modules"; for m in numpy safetensors; do "$1" -c "import $m" 2>/dev/null && echo "$m yes" || echo "$m no"; done
    echo "== ldd"; ldd "$2" | grep -E "torch|c10|not found"
    echo "== rpath"; (readelf -d "$2" 2>/dev/null || echo "(no readelf)") | grep -E "RPATH|RUNPATH|no readelf" || echo none
    echo "== bapw"; "$2" --version' _ "$py" "$bin"
  log=$out/logs/env.log
  figure torch "$(sed -n '/== torch/{n;p}' "$log")"
  figure gpus "$(sed -n '/== nvidia-smi/,/== torch/p' "$log" | grep -v '^==' | tail -n +2 | paste -sd ';')"
  figure python_modules "$(sed -n '/== python modules/,/== ldd/p' "$log" | grep -v '^==' | paste -sd ' ')"
  figure libtorch "$(grep -m1 'libtorch_cpu' "$log" | awk '{print $3}')"
  ok=0; [ "$rc" = 0 ] && ! grep -q '=> not found' "$log" && ok=1
  [ $device = cuda ] && ! grep -q ' True ' "$log" && ok=0
  verdict env $ok "torch $(sed -n '/== torch/{n;p}' "$log" | awk '{print $2, "cuda", $3, "available", $4}')"
fi
# LibTorch sees CUDA only if libtorch_cuda is loaded; the linker drops it unless the binary
# needs libtorch.so (build.rs does that for BAPW_GPU_BUILD).
rc=0 took=0
verdict links_cuda "$(grep -q 'libtorch_cuda' "$out/logs/env.log" 2>/dev/null && echo 1 || echo 0)" \
  "$(grep -m1 -o 'libtorch_cuda.so => [^ ]*' "$out/logs/env.log" 2>/dev/null || echo 'libtorch_cuda is not loaded: --device cuda would fall back to the CPU')"

# --- 1. smoke -------------------------------------------------------------------------------
limited smoke 120 "$bin" train --preset smoke --headless --device $device --runs-dir "$runs" --name smoke
facts=$(run_facts "$runs/smoke" 2>/dev/null)
ok=0; [ "$rc" = 0 ] && [ "$(fact "$facts" device)" = "$(want_device)" ] && [ "$(fact "$facts" state)" = finished ] && ok=1
figure smoke_test_acc "$(fact "$facts" test_acc)"
verdict smoke $ok "device $(fact "$facts" device), $(fact "$facts" state), test acc $(fact "$facts" test_acc)"

# --- 2. MNIST: import, then a short BAP run with evaluation ---------------------------------
# bapw imports the .gz files as they are; the peer reads uncompressed IDX files.
mnist=$work/mnist-idx
limited mnist 60 bash -c 'set -e; "$1" data fetch mnist --from "$2"; mkdir -p "$3"
  for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    if [ -f "$2/$f" ]; then cp "$2/$f" "$3/$f"; else gzip -dc "$2/$f.gz" > "$3/$f"; fi
  done' _ "$bin" "$mnist_src" "$mnist"
have_mnist=$rc
verdict mnist $([ "$rc" = 0 ] && echo 1 || echo 0) "from $mnist_src"
if [ "$have_mnist" = 0 ]; then
  limited bap_run 240 "$bin" train --preset mnist-bap-quick --headless --device $device \
    --runs-dir "$runs" --name bap "${bap_sets[@]}"
  facts=$(run_facts "$runs/bap" 2>/dev/null)
  ok=0; [ "$rc" = 0 ] && [ "$(fact "$facts" device)" = "$(want_device)" ] && [ "$(fact "$facts" state)" = finished ] \
    && [ "$(fact "$facts" evals)" -ge 1 ] && ok=1
  for k in step test_acc clean_acc auc_fgsm auc_pgd auc_deepfool seconds; do figure "bap_$k" "$(fact "$facts" $k)"; done
  verdict bap_run $ok "$(fact "$facts" step) steps in $(fact "$facts" seconds) s, test acc $(fact "$facts" test_acc), AUC FGSM $(fact "$facts" auc_fgsm) PGD $(fact "$facts" auc_pgd) DeepFool $(fact "$facts" auc_deepfool)"
else
  rc=1 took=0; verdict bap_run 0 "no MNIST"
fi

# --- 3. bench: bapw beside the PyTorch peer, per mode ---------------------------------------
data_args=(); [ "$have_mnist" = 0 ] && data_args=(--data "$mnist")
bapw_data=(--dataset mnist); [ ${#data_args[@]} = 0 ] && bapw_data=(--dataset synthetic)
for ms in "${bench_steps[@]}"; do
  mode=${ms%%:*} steps=${ms##*:}
  peer_mode=$mode; [ $mode = adversarial ] && peer_mode=fgsm
  limited "bench_$mode" 120 "$bin" bench --mode $mode --steps $steps --device $device "${bench_threads[@]}" "${bapw_data[@]}" --json
  ours=$(json_field "$out/logs/bench_$mode.log" samples_per_s)
  dev=$(json_field "$out/logs/bench_$mode.log" device)
  figure "bench_${mode}_bapw_samples_per_s" "$ours"
  ok=0; [ "$rc" = 0 ] && [ -n "$ours" ] && [ "$dev" = "$(want_device)" ] && ok=1
  verdict "bench_$mode" $ok "$steps steps: $ours samples/s on $dev"
  if [ -f "$peer" ]; then
    limited "peer_$mode" 120 "$py" "$peer" "${data_args[@]}" --mode $peer_mode --steps $steps --device $device "${bench_threads[@]}"
    theirs=$(json_field "$out/logs/peer_$mode.log" samples_per_s)
    figure "bench_${mode}_peer_samples_per_s" "$theirs"
    ok=0; [ "$rc" = 0 ] && [ -n "$theirs" ] && ok=1
    ratio=; [ -n "$ours" ] && [ -n "$theirs" ] && ratio=$("$py" -c "print(round($ours/$theirs, 2))")
    figure "bench_${mode}_ratio" "$ratio"
    verdict "peer_$mode" $ok "$steps steps: $theirs samples/s; bapw/peer $ratio"
  else
    rc=1 took=0; verdict "peer_$mode" 0 "$peer is missing"
  fi
done

# --- 4. the monitor's cost: natural training with and without the sampler (100 ms) ----------
nat_steps=${bench_steps[0]##*:}
for i in 1 2; do
  for s in 0 100; do
    limited "sampler_${s}_$i" 120 "$bin" bench --mode natural --steps $nat_steps --device $device "${bench_threads[@]}" "${bapw_data[@]}" --sample-ms $s --json
    figure "sampler_${s}ms_run${i}_samples_per_s" "$(json_field "$out/logs/sampler_${s}_$i.log" samples_per_s)"
  done
done
sampler_json=$out/logs/sampler_100_2.log
"$py" - "$out/logs" "$figures" <<'EOF' > "$out/logs/sampler_summary.txt" 2>&1
import json, sys, statistics, os
logs, figures = sys.argv[1], sys.argv[2]
def last(path):
    try:
        lines = [l for l in open(path) if l.startswith("{")]
        return json.loads(lines[-1]) if lines else None
    except OSError:
        return None
runs = {s: [last(os.path.join(logs, f"sampler_{s}_{i}.log")) for i in (1, 2)] for s in (0, 100)}
off = [r["samples_per_s"] for r in runs[0] if r]
on = [r["samples_per_s"] for r in runs[100] if r]
mon = [r.get("monitor") for r in runs[100] if r and r.get("monitor")]
with open(figures, "a") as f:
    if off and on:
        f.write("sampler_slowdown_pct\t%.2f\n" % (100 * (1 - statistics.mean(on) / statistics.mean(off))))
    if mon:
        m = mon[-1]
        f.write("sampler_samples\t%d\n" % m["stats"]["samples"])
        f.write("sampler_mean_sample_ms\t%.3f\n" % (m["stats"]["busy_ms"] / max(1, m["stats"]["samples"])))
        f.write("sampler_max_sample_ms\t%.3f\n" % m["stats"]["max_sample_ms"])
        f.write("sampler_gpu_unavailable\t%s\n" % (m["stats"].get("gpu_unavailable") or ""))
        f.write("sampler_last_sample\t%s\n" % json.dumps(m.get("last")))
        f.write("nvml_gpus\t%s\n" % json.dumps(m.get("nvml_gpus")))
        f.write("nvml_mapping\t%s\n" % json.dumps(m.get("mapping")))
print("off", off, "on", on, "monitor runs", len(mon))
sys.exit(0 if off and on and len(mon) == len(on) else 1)
EOF
rc=$?; took=0
ok=0; [ $rc = 0 ] && ok=1
if [ $device = cuda ] && ! grep -q '"gpus":\[{' "$sampler_json" 2>/dev/null; then ok=0; fi
verdict sampler $ok "$(cat "$out/logs/sampler_summary.txt" | tail -1)"

# --- 5. out of memory at an absurd batch: a message with the batch to try, exit 1 -----------
# 262,144 examples through a 262,144-wide layer: 256 GiB of activations in one tensor, more
# than any GPU (and, under ulimit -v on the CPU, than the address space allowed).
oom_sets=(--set data.synthetic.train=262144 --set data.synthetic.test=64 --set train.batch_size=262144
  --set 'model.hidden=[262144]' --set eval.every=0)
if [ $device = cuda ]; then
  limited oom 120 "$bin" train --preset smoke --headless --device cuda --runs-dir "$runs" --name oom "${oom_sets[@]}"
else
  limited oom 120 bash -c 'ulimit -v 8388608 && exec "$@"' _ "$bin" train --preset smoke --headless --device cpu --runs-dir "$runs" --name oom "${oom_sets[@]}"
fi
msg=$(grep -m1 'out of memory' "$out/logs/oom.log")
figure oom_message "$msg"
ok=0
if [ "$rc" = 1 ] && grep -q "error: out of memory on $(want_device) at batch size 262144: try --set train.batch_size=131072" "$out/logs/oom.log" \
  && ! grep -qE 'panicked|frame #|enforce fail' "$out/logs/oom.log"; then ok=1; fi
verdict oom $ok "${msg:-no out-of-memory message}"

# --- 6. bit-identical resume: straight twice (is the device deterministic?) and killed+resumed
resume_sets=(--set train.mode=bap --set train.epochs=$resume_epochs --set checkpoint.every=40
  --set train.log_every=1000 --set eval.every=$((resume_epochs / 2)))
for name in straight_a straight_b; do
  limited "resume_$name" 150 "$bin" train --preset smoke --headless --device $device --runs-dir "$runs" --name $name "${resume_sets[@]}"
  verdict "resume_$name" $([ "$rc" = 0 ] && echo 1 || echo 0) "BAP smoke, $resume_epochs epochs"
done
# The third run is killed (SIGKILL) at its first checkpoint past step 80, then resumed.
t0=$(date +%s)
"$bin" train --preset smoke --headless --device $device --runs-dir "$runs" --name killed "${resume_sets[@]}" > "$out/logs/resume_killed.log" 2>&1 &
pid=$!
killed_at=
while kill -0 $pid 2>/dev/null && [ $(($(date +%s) - t0)) -lt $((150 * scale)) ] && [ "$(date +%s)" -lt "$deadline" ]; do
  killed_at=$("$py" -c 'import json,sys
for l in open(sys.argv[1]):
    try: e=json.loads(l)
    except ValueError: continue
    if e.get("kind")=="checkpoint" and e["step"]>=80:
        print(e["step"]); break' "$runs/killed/events.jsonl" 2>/dev/null)
  if [ -n "$killed_at" ]; then kill -9 $pid; break; fi
  sleep 0.05
done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
limited resume_resumed 150 "$bin" resume killed --headless --runs-dir "$runs"
resume_rc=$rc
"$py" - "$runs" > "$out/logs/resume_compare.txt" 2>&1 <<'EOF'
import json, sys, os
runs = sys.argv[1]
def steps(name):
    out = {}
    for line in open(os.path.join(runs, name, "events.jsonl")):
        try: e = json.loads(line)
        except ValueError: continue
        if e["kind"] == "step":
            out.setdefault(e["step"], []).append(e["loss"])
    return out
def fin(name):
    ev = [json.loads(l) for l in open(os.path.join(runs, name, "events.jsonl")) if '"finished"' in l]
    return ev[-1] if ev else {}
a, b, k = steps("straight_a"), steps("straight_b"), steps("killed")
def first_diff(x, y):
    for s in sorted(set(x) | set(y)):
        if x.get(s) != y.get(s):
            return s
    return None
ab, ak = first_diff(a, b), first_diff(a, k)
doubled = [s for s, v in k.items() if len(v) > 1]
print("steps", len(a), "deterministic", ab is None, "first_diff_ab", ab)
print("resumed_identical", ak is None and not doubled, "first_diff_resumed", ak, "doubled", doubled[:5])
print("final", fin("straight_a").get("test_acc"), fin("killed").get("test_acc"), fin("killed").get("state"))
sys.exit(0 if ak is None and not doubled and fin("killed").get("state") == "finished" else 1)
EOF
cmp_rc=$?
figure resume_killed_at_step "$killed_at"
figure resume_compare "$(paste -sd ';' "$out/logs/resume_compare.txt")"
rc=$resume_rc
ok=0; [ -n "$killed_at" ] && [ "$resume_rc" = 0 ] && [ $cmp_rc = 0 ] && ok=1
verdict resume_resumed $ok "killed at step ${killed_at:-never (the run ended first)}; $(paste -sd ' ' "$out/logs/resume_compare.txt")"

# --- results ----------------------------------------------------------------------------------
total=$(($(date +%s) - start_s))
"$py" - "$results" "$figures" "$out" "$device" "$budget" "$total" "$bin" <<'EOF'
import json, sys, os, datetime
results, figures, out, device, budget, total, binary = sys.argv[1:8]
steps = []
for line in open(results):
    name, status, secs, note = (line.rstrip("\n").split("\t") + [""])[:4]
    steps.append({"step": name, "status": status, "seconds": float(secs or 0), "note": note})
figs = {}
for line in open(figures):
    k, _, v = line.rstrip("\n").partition("\t")
    try: figs[k] = json.loads(v)
    except ValueError: figs[k] = v
ok = all(s["status"] == "pass" for s in steps)
doc = {"device": device, "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
       "binary": binary, "budget_s": int(budget), "total_s": int(total), "all_passed": ok,
       "steps": steps, "figures": figs}
with open(os.path.join(out, "gpu-check.json"), "w") as f:
    json.dump(doc, f, indent=1)
with open(os.path.join(out, "gpu-check.md"), "w") as f:
    f.write(f"# gpu-check on {device}: {'all passed' if ok else 'FAILURES'} ({total} s of {budget})\n\n")
    f.write("| step | result | s | note |\n|---|---|---|---|\n")
    for s in steps:
        f.write(f"| {s['step']} | {s['status']} | {s['seconds']} | {s['note'].replace('|', '/')} |\n")
    f.write("\n| figure | value |\n|---|---|\n")
    for k, v in figs.items():
        f.write(f"| {k} | {str(v).replace('|', '/')[:300]} |\n")
print(open(os.path.join(out, "gpu-check.md")).read())
sys.exit(0 if ok else 1)
EOF
status=$?
tar -czf "$out/logs.tar.gz" -C "$out" logs && rm -rf "$out/logs"
exit $status
