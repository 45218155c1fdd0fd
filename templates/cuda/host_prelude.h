// host_prelude.h: compiles sageptq.cuh as plain C++ for the CPU tests
// (clang++-14 -x c++ -O2 -shared -fPIC -include templates/cuda/host_prelude.h ...). The CUDA qualifiers
// vanish, __CUDA_ARCH__ stays undefined (so the header takes its host branches: software half
// conversion, a loop for dp4a), and round-to-nearest-even is the C library's default rint.
#pragma once

#define __host__
#define __device__
#define __global__
#define __shared__
#define __constant__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))

static inline int __float2int_rn(float value) { return (int)__builtin_rintf(value); }
