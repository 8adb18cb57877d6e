# Multi-rank suites of model_tests (moe_add_mpi_test: tests/CMakeLists.txt):
# every parallel layout against the single-rank run, and token dropping under
# expert parallelism.
foreach(np 2 4)
  moe_add_mpi_test(model_layouts_np${np} model_tests ${np} "MpiLayouts*:MpiDropping*")
endforeach()
