#!/usr/bin/env bash
# One row of the fault-injection table: runs tests/launch/faults/cases/NAME.sh
# with the helpers below, in a fresh temporary directory.
#   run.sh CASE_FILE MOE_TRAIN MOE_PREP MOE_CKPT SOURCE_DIR MPIRUN
# A case fails with `fail MESSAGE` (exit 1) and ends with `ok MESSAGE`.
set -uo pipefail
case_file=$1 train=$2 prep=$3 ckpt=$4 src=$5 mpirun=$6
tmp=$(mktemp -d)
cleanup() {
  # Ranks a case left behind (a SIGSTOPped rank, a hung job) must not outlive it.
  [ -n "${FAULT_PIDS:-}" ] && kill -9 $FAULT_PIDS 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
export OMP_NUM_THREADS=1
# Bytes, not characters: paths in some cases are not UTF-8 (grep, sort).
export LC_ALL=C
MPIRUN=("$mpirun" --oversubscribe --allow-run-as-root --mca mpi_yield_when_idle 1)
FAULT_PIDS=""

fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "OK: $*"; }

# The byte-level tinyshakespeare dataset, prepared once per case.
DATA=$tmp/ts.h5
prep_data() {
  [ -f "$DATA" ] || "$prep" --input "$src/data/corpus/tinyshakespeare.txt" --output "$DATA" >/dev/null ||
    fail "moe-prep could not prepare the corpus"
}

# A small, fast tiny_moe run; cases add --set run_dir=... and their own flags.
# MOE_FAULT_SETS adds flags to every run (the SIM build's CudaFault.* cases:
# --set device=cuda, the groups NCCL's).
TINY=(--config "$src/configs/tiny_moe.pbtxt" --set data.path="$DATA" --set optim.schedule.warmup_steps=2
      --set eval_every=0 --set log_every=1 --set threads=1 --set model.n_layers=2 --set model.d_model=64
      --set seq_len=32 ${MOE_FAULT_SETS:-})

# train NAME [moe-train args...]: one process; NAME.out / NAME.err under $tmp,
# the exit status in STATUS, seconds taken in ELAPSED. TIMEOUT (default 90 s)
# bounds it; a timeout shows as STATUS 124.
train() {
  local name=$1
  shift
  local start=$SECONDS
  timeout -k 5 "${TIMEOUT:-90}" "$train" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null
  STATUS=$?
  ELAPSED=$((SECONDS - start))
}
# mtrain NP NAME [moe-train args...]: the same under mpirun with NP ranks.
mtrain() {
  local np=$1 name=$2
  shift 2
  local start=$SECONDS
  timeout -k 5 "${TIMEOUT:-90}" "${MPIRUN[@]}" -np "$np" "$train" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null
  STATUS=$?
  ELAPSED=$((SECONDS - start))
}
# The output of run NAME (stdout then stderr), for messages.
show() { cat "$tmp/$1.out" "$tmp/$1.err" 2>/dev/null | grep -av '^  \|^[a-z_0-9]*: [^ ]*$\|^[a-z_0-9]* {$\|^}$' | tail -${2:-8}; }

# expect_status NAME CODE: the run ended with exactly CODE.
expect_status() {
  [ "$STATUS" -eq "$2" ] || { show "$1"; fail "$1: exit status $STATUS, want $2"; }
}
# expect_clean_exit NAME: no timeout and no signal death (status < 124).
expect_clean_exit() {
  [ "$STATUS" -ne 124 ] || { show "$1"; fail "$1: hung (killed by the ${TIMEOUT:-90} s timeout)"; }
  [ "$STATUS" -lt 124 ] || { show "$1"; fail "$1: died by a signal (status $STATUS)"; }
  ! grep -qE "Segmentation fault|Bus error|signal [0-9]+ \(|Aborted \(core|SIGSEGV|SIGBUS" "$tmp/$1.err" ||
    { show "$1"; fail "$1: a signal death is reported on stderr"; }
}
# expect_in NAME REGEX / expect_not_in NAME REGEX: grep -E over stdout + stderr
# (grep reads the files itself: `cat | grep -q` under pipefail fails when
# grep's early exit kills cat with SIGPIPE).
expect_in() {
  grep -aqsE -- "$2" "$tmp/$1.out" "$tmp/$1.err" || { show "$1" 12; fail "$1: no line matches '$2'"; }
}
expect_not_in() {
  ! grep -aqsE -- "$2" "$tmp/$1.out" "$tmp/$1.err" || { show "$1" 12; fail "$1: a line matches '$2'"; }
}
# The step latest points at in a run directory's checkpoints (empty if none).
latest_step() { sed -n 's/^step_0*\([0-9][0-9]*\)$/\1/p' "$1/checkpoints/latest" 2>/dev/null; }
# One checksum over every file of a directory tree (names and contents).
tree_sum() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1); }
# The same without the run directory's lock file, which every run that takes
# the lock rewrites with its host and pid.
run_sum() { (cd "$1" && find . -type f ! -path ./.lock -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1); }
# The per-step losses of a run directory's metrics.jsonl, "STEP LOSS" a line.
losses() { sed -n 's/^{"step": \([0-9]*\), "lm_loss": \([-0-9.naifule+]*\).*/\1 \2/p' "$1/metrics.jsonl"; }
# expect_losses_as RUN_DIR REF_DIR: each step's loss in RUN_DIR (its last
# line for the step: a resumed run repeats the steps after its checkpoint)
# equals the uninterrupted REF_DIR's, to the 17 digits metrics.jsonl holds
# (bitwise for a double), and both cover the same steps.
expect_losses_as() {
  local got want
  got=$(losses "$1" | awk '{v[$1] = $2} END {for (s in v) print s, v[s]}' | sort -n)
  want=$(losses "$2" | sort -n)
  [ -n "$want" ] || fail "the reference run $2 logged no losses"
  [ "$got" = "$want" ] || {
    diff <(echo "$want") <(echo "$got") | head -6
    fail "the losses of $1 differ from the uninterrupted run's ($2)"
  }
}

# bg_train NAME [args...] / bg_mtrain NP NAME [args...]: train / mtrain in
# the background, without a timeout wrapper (signals go to moe-train or to
# mpirun itself); the pid in BG_PID, also added to FAULT_PIDS. End with bg_wait.
bg_train() {
  local name=$1
  shift
  "$train" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null &
  BG_PID=$!
  FAULT_PIDS="$FAULT_PIDS $BG_PID"
}
bg_mtrain() {
  local np=$1 name=$2
  shift 2
  "${MPIRUN[@]}" -np "$np" "$train" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" </dev/null &
  BG_PID=$!
  FAULT_PIDS="$FAULT_PIDS $BG_PID"
}
# Whether process PID still runs (a zombie waiting to be reaped does not).
alive() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$st" ] && [ "${st#Z}" = "$st" ]; }
# bg_wait PID [SECONDS]: waits (default 90 s) for a background run; its
# exit status in STATUS (124 when it did not end in time).
bg_wait() {
  local pid=$1 limit=$((${2:-90} * 10)) i
  for ((i = 0; i < limit; ++i)); do alive "$pid" || break; sleep 0.1; done
  if alive "$pid"; then STATUS=124; else wait "$pid"; STATUS=$?; fi
}
# wait_for NAME REGEX [SECONDS]: until a line of NAME's stdout matches
# (default 60 s), else the case fails.
wait_for() {
  local limit=$((${3:-60} * 10)) i
  for ((i = 0; i < limit; ++i)); do grep -qE -- "$2" "$tmp/$1.out" 2>/dev/null && return 0; sleep 0.1; done
  show "$1"
  fail "$1: no line matching '$2' within ${3:-60} s"
}
# Seconds since the epoch with milliseconds, for sub-second limits.
now() { date +%s.%3N; }
# The committed step directories and latest of a run directory, one line.
ckpt_state() { echo "$(cd "$1/checkpoints" 2>/dev/null && ls -d step_* 2>/dev/null | tr '\n' ' ')latest=$(cat "$1/checkpoints/latest" 2>/dev/null)"; }

cd "$tmp" || exit 1
source "$case_file"
