# kill -9 of mpirun (a 2-rank job saving after every step): every rank
# notices its launcher is gone and stops within half a second, and no checkpoint
# is committed after that (the ranks used to train on for about 3 s,
# committing more). A --resume then gives the losses of an uninterrupted run.
prep_data
run=$tmp/run
bg_mtrain 2 job "${TINY[@]}" --set run_dir="$run" --set steps=60 --set parallel.ep=2 \
  --set checkpoint.every_steps=1 --set checkpoint.keep_last=0
mpirun_pid=$BG_PID
wait_for job "^checkpoint .*step_0*3:"
ranks=$(pgrep -P "$mpirun_pid" -x moe-train | tr '\n' ' ')
[ "$(echo $ranks | wc -w)" = 2 ] || fail "found ranks '$ranks' under mpirun $mpirun_pid"
FAULT_PIDS="$FAULT_PIDS $ranks"
n0=$(ls -d "$run"/checkpoints/step_* | wc -l)
l0=$(latest_step "$run")
kill -9 "$mpirun_pid"
sleep 0.5
for r in $ranks; do alive "$r" && fail "rank pid $r still runs 0.5 s after kill -9 of mpirun (now at $(ckpt_state "$run"))"; done
at=$(ckpt_state "$run")
sleep 4
[ "$(ckpt_state "$run")" = "$at" ] || fail "checkpoints changed after the ranks stopped: '$at' -> '$(ckpt_state "$run")'"
# At most the save in flight at the kill completed.
n1=$(ls -d "$run"/checkpoints/step_* | wc -l)
[ "$n1" -le $((n0 + 1)) ] && [ "$(latest_step "$run")" -le $((l0 + 1)) ] ||
  fail "$((n1 - n0)) checkpoints committed after kill -9 of mpirun (latest $l0 -> $(latest_step "$run"))"
# A --resume continues from the last checkpoint with the losses of a run
# that was never killed.
mtrain 2 resume "${TINY[@]}" --set run_dir="$run" --set steps=60 --set parallel.ep=2 --set checkpoint.every_steps=1 \
  --set checkpoint.keep_last=0 --resume
expect_status resume 0
mtrain 2 ref "${TINY[@]}" --set run_dir="$tmp/ref" --set steps=60 --set parallel.ep=2
expect_status ref 0
expect_losses_as "$run" "$tmp/ref"
ok "both ranks gone within 0.5 s; checkpoints stayed at: $at; the resume gave the uninterrupted losses"
