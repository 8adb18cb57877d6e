# Helpers of the hang cases (cases/hung_rank_*.sh), sourced from a case: a
# job runs in the background while the case notes when lines first appear,
# so the time from the hang to the report is measured, not the whole run.

now_ms() { date +%s%3N; }

# hang_run NP NAME HANG_REGEX NAMED_REGEX [moe-train args...]: runs moe-train
# on NP ranks (TIMEOUT, default 90 s, bounds it) and polls NAME's output
# every 0.1 s. Sets STATUS; HANG_MS: when HANG_REGEX first appeared; NAMED_MS
# and END_MS: NAMED_REGEX first appeared and the job ended, in ms after
# HANG_MS (empty if never). Ranks left behind go into FAULT_PIDS (killed by
# run.sh's cleanup) and LEFT.
hang_run() {
  local np=$1 name=$2 hang_re=$3 named_re=$4
  shift 4
  timeout -k 5 "${TIMEOUT:-90}" "${MPIRUN[@]}" -np "$np" "$train" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" \
    </dev/null &
  local job=$! hang_at="" named_at="" end_at
  seen() { grep -qsE -- "$1" "$tmp/$name.out" "$tmp/$name.err"; }
  while kill -0 "$job" 2>/dev/null; do
    if [ -z "$hang_at" ] && seen "$hang_re"; then hang_at=$(now_ms); fi
    if [ -n "$hang_at" ] && [ -z "$named_at" ] && seen "$named_re"; then named_at=$(now_ms); fi
    sleep 0.1
  done
  wait "$job"
  STATUS=$?
  end_at=$(now_ms)
  if [ -z "$hang_at" ] && seen "$hang_re"; then hang_at=$end_at; fi
  if [ -z "$named_at" ] && seen "$named_re"; then named_at=$end_at; fi
  HANG_MS=$hang_at NAMED_MS="" END_MS=""
  if [ -n "$hang_at" ]; then
    [ -z "$named_at" ] || NAMED_MS=$((named_at - hang_at))
    END_MS=$((end_at - hang_at))
  fi
  # The run directory is unique to this case: whatever still has it on its
  # command line is a rank the job left behind.
  LEFT=$(pgrep -f -- "run_dir=$tmp/" | tr '\n' ' ')
  FAULT_PIDS="$FAULT_PIDS $LEFT"
}
