# System dependencies. scripts/setup-deps installs every one of them on Debian 12.
find_package(Threads REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(MPI REQUIRED COMPONENTS CXX)
find_package(HDF5 REQUIRED COMPONENTS C)
# Debian 12's protobuf ships no CMake config: FindProtobuf + protobuf_generate.
find_package(Protobuf REQUIRED)
find_package(absl REQUIRED)
find_package(GTest REQUIRED)

# OpenBLAS: FindBLAS would accept any BLAS; we want OpenBLAS's cblas and its
# thread-count control, so find it directly and wrap it in an imported target.
find_path(OPENBLAS_INCLUDE_DIR cblas.h
  PATHS /usr/include/x86_64-linux-gnu/openblas-pthread /usr/include/openblas
        /usr/include/x86_64-linux-gnu /usr/include)
find_library(OPENBLAS_LIBRARY NAMES openblas
  PATHS /usr/lib/x86_64-linux-gnu/openblas-pthread /usr/lib/x86_64-linux-gnu)
if(NOT OPENBLAS_INCLUDE_DIR OR NOT OPENBLAS_LIBRARY)
  message(FATAL_ERROR "OpenBLAS not found (install libopenblas-dev: scripts/setup-deps)")
endif()
add_library(moe::openblas UNKNOWN IMPORTED)
set_target_properties(moe::openblas PROPERTIES
  IMPORTED_LOCATION "${OPENBLAS_LIBRARY}"
  INTERFACE_INCLUDE_DIRECTORIES "${OPENBLAS_INCLUDE_DIR}")
message(STATUS "OpenBLAS: ${OPENBLAS_LIBRARY} (headers ${OPENBLAS_INCLUDE_DIR})")
