# --overwrite starts again from step 0 over committed checkpoints: the old
# ones (and the leftovers of an interrupted save) are deleted first, so the
# new run's checkpoints are the only ones and retention cannot confuse old
# and new steps; metrics.jsonl and config.pbtxt are the new run's.
# --overwrite with --resume is refused.
prep_data
run=$tmp/run
train first "${TINY[@]}" --set run_dir="$run" --set steps=8 --set checkpoint.every_steps=4
expect_status first 0
mkdir -p "$run/checkpoints/.tmp_step_00000009" "$run/checkpoints/.old_step_00000007"
train both "${TINY[@]}" --set run_dir="$run" --set steps=8 --overwrite --resume
expect_status both 2
expect_in both "--overwrite and --resume"
[ "$(latest_step "$run")" = 8 ] || fail "the refused --overwrite --resume changed latest"
train again "${TINY[@]}" --set run_dir="$run" --set steps=3 --overwrite
expect_status again 0
expect_in again "--overwrite: removed 4 checkpoint directories under $run/checkpoints"
expect_in again "^moe-train: done after 3 steps"
[ "$(cd "$run/checkpoints" && ls -A | sort | tr '\n' ' ')" = "latest step_00000003 " ] ||
  fail "the checkpoint root holds: $(ls -A "$run/checkpoints" | tr '\n' ' ')"
[ "$(losses "$run" | cut -d' ' -f1 | tr '\n' ' ')" = "0 1 2 " ] || fail "metrics.jsonl: $(losses "$run" | tr '\n' ' ')"
grep -q "^steps: 3$" "$run/config.pbtxt" || fail "config.pbtxt is not the new run's"
ok "old checkpoints removed, the new run's step 3 is the only one"
