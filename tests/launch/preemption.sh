#!/usr/bin/env bash
# Preemption: SIGTERM to a one-process run, and SIGUSR1 to mpirun (which
# forwards it to every rank) of a 2-rank run, each after a few steps: the run
# finishes its step, saves a checkpoint and exits 0; `moe-train --resume`
# then continues from that step to the end.
set -uo pipefail
train=$1 prep=$2 src=$3 mpirun=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$prep" --input "$src/data/corpus/tinyshakespeare.txt" --output "$tmp/ts.h5" >/dev/null || exit 1
common=(--config "$src/configs/tiny_moe.pbtxt" --set data.path="$tmp/ts.h5" --set steps=30
        --set optim.schedule.warmup_steps=2 --set eval_every=0 --set log_every=1 --set threads=1
        --set model.n_layers=2 --set model.d_model=64 --set seq_len=32)

# $1: label, $2: signal, $3: run dir, $4: extra moe-train arguments (one
# string), rest: the launcher command prefix.
preempt() {
  local label=$1 sig=$2 dir=$3
  read -r -a extra <<<"$4"
  shift 4
  OMP_NUM_THREADS=1 "$@" "$train" "${common[@]}" "${extra[@]}" --set run_dir="$dir" >"$dir.out" 2>"$dir.err" &
  local pid=$!
  for _ in $(seq 600); do grep -q "^step     3 " "$dir.out" 2>/dev/null && break; sleep 0.1; done
  kill -"$sig" "$pid"
  wait "$pid"
  local status=$?
  cat "$dir.out" "$dir.err" | grep -v "^  \|^[a-z_]*: \|^[a-z_]* {\|^}" | tail -5
  [ "$status" -eq 0 ] || fail "$label: exit status $status after SIG$sig (want 0)"
  grep -q "^checkpoint .*step_" "$dir.out" || fail "$label: no checkpoint was saved"
  local at
  at=$(sed -n 's/^step_0*\([0-9][0-9]*\)$/\1/p' "$dir/checkpoints/latest")
  [ -n "$at" ] && [ "$at" -ge 4 ] && [ "$at" -lt 30 ] || fail "$label: latest is '$(cat "$dir/checkpoints/latest")'"
  OMP_NUM_THREADS=1 "$@" "$train" "${common[@]}" "${extra[@]}" --set run_dir="$dir" --resume >"$dir.resume.out" 2>&1 ||
    fail "$label: the resumed run failed: $(tail -3 "$dir.resume.out")"
  grep -q "^resumed from .*step $at" "$dir.resume.out" || fail "$label: the resumed run did not start at step $at"
  grep -q "^moe-train: done after 30 steps" "$dir.resume.out" || fail "$label: the resumed run did not finish"
  echo "OK: $label saved at step $at, exited 0, resumed to step 30"
}

preempt "one process, SIGTERM" TERM "$tmp/one" "" env
preempt "2 ranks, SIGUSR1 to mpirun" USR1 "$tmp/two" "--set parallel.ep=2" \
  "$mpirun" --oversubscribe --allow-run-as-root -np 2
