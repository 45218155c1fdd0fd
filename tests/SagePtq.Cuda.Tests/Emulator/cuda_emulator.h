// cuda_emulator.h: runs the __global__ side of sageptq.cuh on the CPU, for the tests only.
//
// Every CUDA thread of a CTA is a host thread (CTAs run one after another), so barriers and warp shuffles
// are real rendezvous points: a kernel that diverges at __syncthreads or reads another lane's value at the
// wrong time hangs or gives wrong results here too. __shared__ becomes `static` (one copy, which is right
// while CTAs run one at a time). Compiled with -std=c++20 -DSAGEPTQ_EMULATE -include cuda_emulator.h.
#pragma once

#include <barrier>
#include <cmath>
#include <functional>
#include <thread>
#include <vector>

#define __host__
#define __device__
#define __global__
#define __shared__ static
#define __constant__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))

struct __attribute__((aligned(16))) uint4 { unsigned int x, y, z, w; };

namespace emulator {

struct Dim { unsigned int x, y, z; };

inline thread_local Dim thread_index, block_index;
inline Dim grid_size, block_size;

/// One warp's rendezvous: lanes publish a value, meet, read another lane's, meet again.
struct Warp {
    std::barrier<> meet{32};
    long long slots[32];
};

inline std::barrier<>* block_barrier;
inline Warp* warps;

template <class T>
T exchange(T value, int source) {
    Warp& warp = warps[thread_index.x / 32];
    int lane = thread_index.x % 32;
    long long bits = 0;
    __builtin_memcpy(&bits, &value, sizeof(T));
    warp.slots[lane] = bits;
    warp.meet.arrive_and_wait();
    T result;
    __builtin_memcpy(&result, &warp.slots[source], sizeof(T));
    warp.meet.arrive_and_wait();
    return result;
}

/// Runs `kernel` on a grid of (gx, gy) CTAs of `threads` threads (a multiple of 32).
inline void launch(unsigned int gx, unsigned int gy, unsigned int threads, const std::function<void()>& kernel) {
    grid_size = {gx, gy, 1};
    block_size = {threads, 1, 1};
    for (unsigned int by = 0; by < gy; by++)
        for (unsigned int bx = 0; bx < gx; bx++) {
            std::barrier<> barrier((std::ptrdiff_t)threads);
            std::vector<Warp> warpSet(threads / 32);
            block_barrier = &barrier;
            warps = warpSet.data();
            std::vector<std::thread> pool;
            for (unsigned int t = 0; t < threads; t++)
                pool.emplace_back([&, t] {
                    thread_index = {t, 0, 0};
                    block_index = {bx, by, 0};
                    kernel();
                });
            for (auto& thread : pool) thread.join();
        }
}

}  // namespace emulator

#define threadIdx (emulator::thread_index)
#define blockIdx (emulator::block_index)
#define gridDim (emulator::grid_size)
#define blockDim (emulator::block_size)

inline void __syncthreads() { emulator::block_barrier->arrive_and_wait(); }

template <class T>
inline T __shfl_down_sync(unsigned int, T value, unsigned int delta, int = 32) {
    int lane = (int)(threadIdx.x % 32), source = lane + (int)delta;
    return emulator::exchange(value, source < 32 ? source : lane);   // out of range: the lane's own value, as on the GPU
}

template <class T>
inline T __shfl_sync(unsigned int, T value, int source, int = 32) { return emulator::exchange(value, source & 31); }

inline int __dp4a(int a, int b, int c) {
    for (int k = 0; k < 4; k++) c += (int)(signed char)(a >> (8 * k)) * (int)(signed char)(b >> (8 * k));
    return c;
}

inline int __float2int_rn(float value) { return (int)__builtin_rintf(value); }
