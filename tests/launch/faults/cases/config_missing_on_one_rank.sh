# One rank cannot read its config (a file missing on one node): both end at
# once, non-zero, and that rank's error names the file.
prep_data
start=$SECONDS
timeout -k 5 60 "${MPIRUN[@]}" -np 2 bash -c \
  'if [ "${OMPI_COMM_WORLD_RANK:-0}" = 1 ]; then cfg=/nonexistent/rank1.pbtxt; else cfg="$0/configs/tiny_moe.pbtxt"; fi
   exec "$1" --config "$cfg" --set data.path="$2" --set run_dir="$3" --set steps=5 --set optim.schedule.warmup_steps=1' \
  "$src" "$train" "$DATA" "$tmp/run" >"$tmp/run.out" 2>"$tmp/run.err" </dev/null
STATUS=$? ELAPSED=$((SECONDS - start))
expect_clean_exit run
[ "$STATUS" -ne 0 ] || fail "the job exited 0"
[ "$ELAPSED" -le 30 ] || fail "the job took $ELAPSED s"
expect_in run "rank 1 on .*/nonexistent/rank1.pbtxt"
ok "exit status $STATUS after $ELAPSED s, rank 1 names the file"
