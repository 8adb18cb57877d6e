# Multi-rank suites of model_tests (moe_add_mpi_test: tests/CMakeLists.txt):
# every parallel layout against the single-rank run, token dropping under
# expert parallelism, and the FP8 dispatch's wire.
foreach(np 2 4)
  moe_add_mpi_test(model_layouts_np${np} model_tests ${np} "MpiLayouts*:MpiDropping*:MpiFp8Dispatch*")
endforeach()
# The layouts on the SIM device over the NCCL communicator (its MPI shim):
# named Cuda* so that the SIM build's test step runs them.
if(MOE_CUDA_SIM)
  foreach(np 2 4)
    moe_add_mpi_test(CudaLayouts.np${np} model_tests ${np} "MpiCudaLayouts*")
  endforeach()
endif()
