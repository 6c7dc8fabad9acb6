#pragma once
/// \file
/// NC_HD marks per-voxel math that both the oneTBB and the CUDA paths call. It expands to
/// `__host__ __device__` only under nvcc, so host-only translation units never see CUDA.

#if defined(__CUDACC__)
#define NC_HD __host__ __device__
#else
#define NC_HD
#endif
