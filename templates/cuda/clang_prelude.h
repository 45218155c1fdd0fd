// clang_prelude.h: lets clang-14 syntax-check SagePtq CUDA sources without the CUDA toolkit:
//   clang-14 -x cuda --cuda-device-only --cuda-gpu-arch=sm_80 -nocudainc -nocudalib \
//            -include templates/cuda/clang_prelude.h -fsyntax-only FILE.cu
// It gives clang what NVRTC has built in: the qualifiers as clang attributes, threadIdx & co., and
// declarations of the few intrinsics and math functions sageptq.cuh calls. Never used by NVRTC.
#pragma once

#define __host__ __attribute__((host))
#define __device__ __attribute__((device))
#define __global__ __attribute__((global))
#define __shared__ __attribute__((shared))
#define __constant__ __attribute__((constant))
#define __launch_bounds__(...) __attribute__((launch_bounds(__VA_ARGS__)))
#define __forceinline__ __inline__ __attribute__((always_inline))
#define __align__(n) __attribute__((aligned(n)))

#include <__clang_cuda_builtin_vars.h>

struct __attribute__((aligned(16))) uint4 { unsigned int x, y, z, w; };

__device__ float __shfl_down_sync(unsigned int mask, float value, unsigned int delta, int width = 32);
__device__ int __shfl_down_sync(unsigned int mask, int value, unsigned int delta, int width = 32);
__device__ float __shfl_sync(unsigned int mask, float value, int lane, int width = 32);
__device__ int __shfl_sync(unsigned int mask, int value, int lane, int width = 32);
__device__ int __dp4a(int a, int b, int c);
__device__ int __float2int_rn(float value);
__device__ float expf(float value);
__device__ float sqrtf(float value);
__device__ double sqrt(double value);
