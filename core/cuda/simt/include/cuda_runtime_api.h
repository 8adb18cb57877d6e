#pragma once
// MOE_CUDA_SIM stand-in for the toolkit's <cuda_runtime_api.h>: sources that include the
// CUDA headers directly get the SIMT host shim (on the include path in SIM only).
#include "core/cuda/simt/simt.h"
