# The comm layer's multi-rank suites (Mpi*) at 2, 3 and 4 ranks; each test
# skips itself when the world size does not fit.
moe_add_mpi_test(comm_mpi_np2 comm_tests 2 "Mpi*")
moe_add_mpi_test(comm_mpi_np3 comm_tests 3 "Mpi*")
moe_add_mpi_test(comm_mpi_np4 comm_tests 4 "Mpi*")
# The NCCL communicator on the SIM device (the NCCL shim over MPI): named
# Cuda* so that the SIM build's test step runs them.
if(MOE_CUDA_SIM)
  moe_add_mpi_test(CudaNccl.np2 comm_tests 2 "MpiNccl*")
  moe_add_mpi_test(CudaNccl.np3 comm_tests 3 "MpiNccl*")
  moe_add_mpi_test(CudaNccl.np4 comm_tests 4 "MpiNccl*")
endif()
