# A run directory with committed checkpoints: a run that would start from
# step 0 over them (a forgotten --resume) is refused, naming the checkpoint
# root and both ways on (--resume, --overwrite), and changes no file; under
# mpirun every rank ends.
prep_data
run=$tmp/run
train first "${TINY[@]}" --set run_dir="$run" --set steps=6 --set checkpoint.every_steps=3
expect_status first 0
before=$(run_sum "$run")
train again "${TINY[@]}" --set run_dir="$run" --set steps=12
expect_clean_exit again
expect_status again 2
expect_in again "$run/checkpoints holds committed checkpoints \(step_0*3, step_0*6\)"
expect_in again "pass --resume to continue .* or --overwrite to delete them"
[ "$(run_sum "$run")" = "$before" ] || fail "the refused run changed the run directory"
TIMEOUT=30 mtrain 2 again2 "${TINY[@]}" --set run_dir="$run" --set steps=12 --set parallel.ep=2
expect_clean_exit again2
expect_status again2 2
expect_in again2 "holds committed checkpoints"
[ "$(run_sum "$run")" = "$before" ] || fail "the refused 2-rank run changed the run directory"
ok "refused with status 2 on one and two ranks, the run directory unchanged"
