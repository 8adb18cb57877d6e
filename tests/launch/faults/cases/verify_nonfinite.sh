# A committed checkpoint holding a NaN (MOE_CKPT_TEST_NAN_TENSOR writes one
# into step 4's copy of final_norm.weight; a save otherwise refuses it):
# moe-ckpt verify fails naming the file, the tensor and the count; step 2
# verifies; --resume skips step 4, saying why, and resumes from step 2.
prep_data
RUN=("${TINY[@]}" --set run_dir="$tmp/run" --set checkpoint.every_steps=2 --set checkpoint.keep_last=0)
MOE_CKPT_TEST_NAN_TENSOR=final_norm.weight:4 train first "${RUN[@]}" --set steps=4
expect_clean_exit first
expect_status first 0
[ "$(latest_step "$tmp/run")" = 4 ] || fail "latest is step '$(latest_step "$tmp/run")', want 4"

"$ckpt" verify "$tmp/run/checkpoints" >"$tmp/verify.out" 2>"$tmp/verify.err"
STATUS=$?
expect_status verify 1
expect_in verify "moe-ckpt: error: $tmp/run/checkpoints/step_00000004/rank_00000.h5:/final_norm.weight \(tensor final_norm.weight, slice 0 of 1\): 1 non-finite value \(first: nan at element 0\)"
"$ckpt" verify "$tmp/run/checkpoints/step_00000002" >"$tmp/good.out" 2>"$tmp/good.err"
STATUS=$?
expect_status good 0

train second "${RUN[@]}" --set steps=6 --resume
expect_clean_exit second
expect_status second 0
expect_in second "checkpoint rejected, falling back: .*final_norm.weight.*1 non-finite value"
expect_in second "resumed from $tmp/run/checkpoints/step_00000002"
ok "verify exits 1 naming final_norm.weight and the count; the resume fell back to step 2"
