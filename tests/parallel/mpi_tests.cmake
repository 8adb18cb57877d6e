# Multi-rank suites of parallel_tests (moe_add_mpi_test: tests/CMakeLists.txt).
# Gradient synchronisation, grad norm and ZeRO-1 on every (tp, ep) layout
# that fits 2 and 4 ranks. One OpenMP thread per rank: the ranks already
# oversubscribe the cores, and spinning OpenMP workers slow them ~100x.
foreach(np 2 4)
  moe_add_mpi_test(parallel_grad_sync_np${np} parallel_tests ${np} "MpiGradSync*:MpiZero1*")
  set_property(TEST parallel_grad_sync_np${np} APPEND PROPERTY ENVIRONMENT "OMP_NUM_THREADS=1")
endforeach()
