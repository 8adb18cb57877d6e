# Multi-rank suites of launch_tests (moe_add_mpi_test: tests/CMakeLists.txt):
# whole training runs on a mesh against one rank.
foreach(np 2 4)
  moe_add_mpi_test(launch_training_np${np} launch_tests ${np} "MpiTraining*:MpiResume*")
endforeach()
# The step guard: a NaN on one rank is skipped on both.
moe_add_mpi_test(launch_step_guard_np2 launch_tests 2 "MpiStepGuard*")
# Whole runs on the SIM device over the NCCL communicator's MPI shim: named
# Cuda* so that the SIM build's test step runs them.
if(MOE_CUDA_SIM)
  foreach(np 2 4)
    moe_add_mpi_test(CudaTraining.np${np} launch_tests ${np} "MpiCudaTraining*")
  endforeach()
endif()
