// clang_prelude.h: lets clang-14 syntax-check SagePtq CUDA sources without the CUDA toolkit:
//   clang-14 -x cuda --cuda-device-only --cuda-gpu-arch=sm_80 -nocudainc -nocudalib \
//            -include templates/cuda/clang_prelude.h -fsyntax-only FILE.cu
// It gives clang what NVRTC has built in: the qualifiers as clang attributes, threadIdx & co., and the few
// intrinsics and math functions sageptq.cuh calls. Never used by NVRTC.
//
// The intrinsics in the hot loops are defined as the CUDA headers define them, one PTX instruction each, not
// merely declared: an opaque call would stop clang from unrolling the loops around it and push their register
// arrays into local memory, so the PTX the tests read (static shared memory, no local memory in the gemvs)
// would not be the code NVRTC makes. expf stays a declaration (libdevice's, outside every hot loop).
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

// shfl.sync's c operand: (32 − width) << 8 in the segment mask, 31 as the clamp.
__device__ __forceinline__ float __shfl_down_sync(unsigned int mask, float value, unsigned int delta, int width = 32) {
    float r;
    asm volatile("shfl.sync.down.b32 %0, %1, %2, %3, %4;" : "=f"(r) : "f"(value), "r"(delta), "r"(((32 - width) << 8) | 31), "r"(mask));
    return r;
}
__device__ __forceinline__ int __shfl_down_sync(unsigned int mask, int value, unsigned int delta, int width = 32) {
    int r;
    asm volatile("shfl.sync.down.b32 %0, %1, %2, %3, %4;" : "=r"(r) : "r"(value), "r"(delta), "r"(((32 - width) << 8) | 31), "r"(mask));
    return r;
}
__device__ __forceinline__ float __shfl_sync(unsigned int mask, float value, int lane, int width = 32) {
    float r;
    asm volatile("shfl.sync.idx.b32 %0, %1, %2, %3, %4;" : "=f"(r) : "f"(value), "r"(lane), "r"(((32 - width) << 8) | 31), "r"(mask));
    return r;
}
__device__ __forceinline__ int __shfl_sync(unsigned int mask, int value, int lane, int width = 32) {
    int r;
    asm volatile("shfl.sync.idx.b32 %0, %1, %2, %3, %4;" : "=r"(r) : "r"(value), "r"(lane), "r"(((32 - width) << 8) | 31), "r"(mask));
    return r;
}
__device__ __forceinline__ int __dp4a(int a, int b, int c) {
    int d;
    asm("dp4a.s32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
}
__device__ __forceinline__ uint4 __ldcs(const uint4* p) {
    uint4 r;
    asm("ld.global.cs.v4.u32 {%0, %1, %2, %3}, [%4];" : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w) : "l"(p));
    return r;
}
__device__ __forceinline__ int __float2int_rn(float value) {
    int r;
    asm("cvt.rni.s32.f32 %0, %1;" : "=r"(r) : "f"(value));
    return r;
}
__device__ __forceinline__ float sqrtf(float value) {
    float r;
    asm("sqrt.rn.f32 %0, %1;" : "=f"(r) : "f"(value));
    return r;
}
__device__ __forceinline__ double sqrt(double value) {
    double r;
    asm("sqrt.rn.f64 %0, %1;" : "=d"(r) : "d"(value));
    return r;
}
__device__ float expf(float value);
