# Multi-rank suites of checkpoint_tests (moe_add_mpi_test: tests/CMakeLists.txt):
# collective saves where each rank writes its own file, loads in another split.
foreach(np 2 4)
  moe_add_mpi_test(checkpoint_mpi_np${np} checkpoint_tests ${np} "MpiCheckpoint*")
endforeach()

# moe-ckpt on a checkpoint made by CheckpointCli.MakeCheckpoints: inspect and
# verify succeed on the good one; verify of a corrupted one, or of one
# holding NaNs, exits 1 naming the file and the tensor.
set(MOE_CKPT_CLI_DIR ${CMAKE_BINARY_DIR}/tests/checkpoint_cli)
add_test(NAME checkpoint_cli_setup COMMAND checkpoint_tests --gtest_filter=CheckpointCli.MakeCheckpoints)
set_tests_properties(checkpoint_cli_setup PROPERTIES ENVIRONMENT "MOE_CKPT_CLI_DIR=${MOE_CKPT_CLI_DIR}"
  FIXTURES_SETUP checkpoint_cli)
add_test(NAME checkpoint_cli_inspect COMMAND sh -c "$<TARGET_FILE:moe-ckpt> inspect ${MOE_CKPT_CLI_DIR}/good; echo rc=$?")
set_tests_properties(checkpoint_cli_inspect PROPERTIES FIXTURES_REQUIRED checkpoint_cli
  PASS_REGULAR_EXPRESSION "step 5, tokens seen 640.*layers.0.ffn.experts.w1 f32\\[4, 3, 2\\].*rc=0")
add_test(NAME checkpoint_cli_verify COMMAND sh -c "$<TARGET_FILE:moe-ckpt> verify ${MOE_CKPT_CLI_DIR}/good; echo rc=$?")
set_tests_properties(checkpoint_cli_verify PROPERTIES FIXTURES_REQUIRED checkpoint_cli
  PASS_REGULAR_EXPRESSION "step_00000005: OK.*rc=0")
add_test(NAME checkpoint_cli_verify_corrupt
  COMMAND sh -c "$<TARGET_FILE:moe-ckpt> verify ${MOE_CKPT_CLI_DIR}/bad/step_00000005 2>&1; echo rc=$?")
set_tests_properties(checkpoint_cli_verify_corrupt PROPERTIES FIXTURES_REQUIRED checkpoint_cli
  PASS_REGULAR_EXPRESSION "moe-ckpt: error: .*rank_00000.h5:/layers.0.ffn.experts.w1 \\(tensor layers.0.ffn.experts.w1.*checksum mismatch.*rc=1")
add_test(NAME checkpoint_cli_verify_nonfinite
  COMMAND sh -c "$<TARGET_FILE:moe-ckpt> verify ${MOE_CKPT_CLI_DIR}/nan 2>&1; echo rc=$?")
set_tests_properties(checkpoint_cli_verify_nonfinite PROPERTIES FIXTURES_REQUIRED checkpoint_cli
  PASS_REGULAR_EXPRESSION "moe-ckpt: error: .*rank_00000.h5:/norm.weight \\(tensor norm.weight, slice 0 of 1\\): 2 non-finite values \\(first: nan at element 0\\)\nrc=1")

# test_model_state.cc saves and loads a real tiny MoE with its optimizer
# through checkpoint/plan.h; the checkpoint library itself does not depend on
# model/ or optim/.
target_link_libraries(checkpoint_tests PRIVATE moe_model moe_optim)
