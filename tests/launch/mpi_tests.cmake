# Multi-rank suites of launch_tests (moe_add_mpi_test: tests/CMakeLists.txt):
# whole training runs on a mesh against one rank.
foreach(np 2 4)
  moe_add_mpi_test(launch_training_np${np} launch_tests ${np} "MpiTraining*:MpiResume*")
endforeach()
# A rank that fails at step 3 ends the whole job quickly, naming itself.
add_test(NAME launch_failure_propagation
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/launch/failure_propagation.sh
          $<TARGET_FILE:moe-train> $<TARGET_FILE:moe-prep> ${PROJECT_SOURCE_DIR} ${MPIEXEC_EXECUTABLE})
set_tests_properties(launch_failure_propagation PROPERTIES TIMEOUT 120)
# SIGTERM / SIGUSR1: finish the step, save, exit 0; --resume continues.
add_test(NAME launch_preemption
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/launch/preemption.sh
          $<TARGET_FILE:moe-train> $<TARGET_FILE:moe-prep> ${PROJECT_SOURCE_DIR} ${MPIEXEC_EXECUTABLE})
set_tests_properties(launch_preemption PROPERTIES TIMEOUT 180)
