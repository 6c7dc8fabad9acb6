# Compiler launcher, project warnings and the CUDA switch.

find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  # base_dir makes paths inside the checkout relative in ccache's hash, so that a fresh clone
  # elsewhere (CI) reuses what any other checkout compiled.
  set(_nc_ccache ${CMAKE_COMMAND} -E env CCACHE_BASEDIR=${PROJECT_SOURCE_DIR} ${CCACHE_PROGRAM})
  set(CMAKE_C_COMPILER_LAUNCHER ${_nc_ccache})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${_nc_ccache})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${_nc_ccache})
endif()

# NEUROCOHORT_CUDA defaults ON wherever nvcc is found, GPU or not: CUDA sources must compile
# in CI even though nothing there runs them. /usr/local/cuda is where the toolkit lives here.
include(CheckLanguage)
if(NOT DEFINED CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
  set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
endif()
check_language(CUDA)
set(_nc_cuda_default OFF)
if(CMAKE_CUDA_COMPILER)
  set(_nc_cuda_default ON)
endif()
option(NEUROCOHORT_CUDA "Build the CUDA kernels" ${_nc_cuda_default})
option(NEUROCOHORT_MPI "Build the MPI transport (run under mpirun or srun)" ON)
if(NEUROCOHORT_CUDA)
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 80 90)   # A100 and H100
  endif()
  enable_language(CUDA)
  # CMake 3.25 does not know nvcc's C++20 flag (nvcc 12+ has it): tell it.
  if(NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
    set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
    set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
    list(APPEND CMAKE_CUDA_COMPILE_FEATURES cuda_std_20)
  endif()
  set(CMAKE_CUDA_STANDARD 20)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  set(CMAKE_CUDA_EXTENSIONS OFF)
  find_package(CUDAToolkit REQUIRED)
endif()
message(STATUS "neurocohort: CUDA kernels ${NEUROCOHORT_CUDA}")

# Warnings are errors for project code only; third-party headers come in as SYSTEM.
function(nc_project_target target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Werror>
    $<$<COMPILE_LANGUAGE:CUDA>:-Werror=all-warnings --Werror=cross-execution-space-call -Xcompiler=-Wall,-Wextra,-Werror>)
endfunction()
