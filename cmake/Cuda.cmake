# CUDA backend: on when nvcc is found (MOE_CUDA=AUTO), forced with ON, off with OFF.
# The CUDA runtime is linked shared; libcuda (the driver) is never linked, so
# binaries build on machines without a GPU driver.
# MOE_CUDA=SIM: the backend's .cu sources are compiled as host C++ on the SIMT
# shim (core/cuda/simt/, MOE_CUDA_SIM), so its code paths run, also under
# sanitizers, without a GPU; no NVIDIA library (and no NCCL) is used.
set(MOE_WITH_CUDA OFF)
set(MOE_CUDA_SIM OFF)
set(MOE_WITH_NCCL OFF)
if(NOT MOE_CUDA MATCHES "^(AUTO|ON|OFF|SIM)$")
  message(FATAL_ERROR "MOE_CUDA=${MOE_CUDA}: expected AUTO, ON, OFF or SIM")
endif()
if(MOE_CUDA STREQUAL "SIM")
  set(MOE_WITH_CUDA ON)
  set(MOE_CUDA_SIM ON)
elseif(NOT MOE_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES "80;90a")
    endif()
    enable_language(CUDA)
    # CMake < 3.26 does not know nvcc's C++20 flag; nvcc >= 12 has it.
    if(NOT DEFINED CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
      set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
      set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
    endif()
    set(CMAKE_CUDA_STANDARD 20)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
    find_package(CUDAToolkit REQUIRED)
    set(MOE_WITH_CUDA ON)
  elseif(MOE_CUDA STREQUAL "ON")
    message(FATAL_ERROR "MOE_CUDA=ON but no CUDA compiler (nvcc) was found")
  endif()
endif()

if(MOE_CUDA_SIM)
  message(STATUS "CUDA backend SIM: kernels compiled as host C++ on the SIMT shim (no GPU, no NCCL)")
elseif(MOE_WITH_CUDA)
  # NCCL has no CMake package: find it and wrap it in an imported target.
  find_path(NCCL_INCLUDE_DIR nccl.h
    HINTS ${CUDAToolkit_INCLUDE_DIRS} /usr/local/cuda/include /usr/include)
  find_library(NCCL_LIBRARY NAMES nccl
    HINTS ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib /usr/local/cuda/lib64 /usr/lib/x86_64-linux-gnu)
  if(NOT NCCL_INCLUDE_DIR OR NOT NCCL_LIBRARY)
    message(FATAL_ERROR "CUDA is on but NCCL was not found (nccl.h / libnccl)")
  endif()
  add_library(moe::nccl UNKNOWN IMPORTED)
  set_target_properties(moe::nccl PROPERTIES
    IMPORTED_LOCATION "${NCCL_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${NCCL_INCLUDE_DIR}")
  set(MOE_WITH_NCCL ON)
  message(STATUS "CUDA backend ON: archs ${CMAKE_CUDA_ARCHITECTURES}, NCCL ${NCCL_LIBRARY}")
else()
  message(STATUS "CUDA backend OFF")
endif()
