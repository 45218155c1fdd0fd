// sageptq.cuh: the CUDA kernels every generated SagePtq layer source instantiates (docs/cuda-kernels.md).
//
// Self-contained: NVRTC compiles it with its builtins only, so no CUDA header is included and the small
// integer types are our own. The math of every kernel lives in __host__ __device__ functions (one lane's
// share of one output row, one head, one token), so the same text compiles as plain C++ for the CPU tests
// (templates/cuda/host_prelude.h); the __global__ side only hands out rows and lanes and reduces.
//
// Formats (docs/pack-format.md): sections are the pack's bytes, unchanged; activations are the int8 format
// of the CPU ActivationQuantizer (blocks of 256 for sage, 32 for uniform: q = round-half-even(x / d),
// d = max|x| / 127, plus Σq per block), produced by the layout's prepare function below.
#pragma once

#ifndef SAGEPTQ_THREADS
#define SAGEPTQ_THREADS 256   // threads per CTA of every kernel: 8 warps
#endif
#define SAGEPTQ_WARPS (SAGEPTQ_THREADS / 32)
#define SAGEPTQ_MAX_SECTIONS 10   // sage uses at most 9 sections, uniform 6, f16 1
#ifndef SAGEPTQ_SAGE_ROWS_PER_WARP
#define SAGEPTQ_SAGE_ROWS_PER_WARP 4   // rows a warp takes at once on the sage fast path (sage::Linear); the host sets it with -D
#endif

#if defined(__CUDA_ARCH__)
#define SAGEPTQ_HD __host__ __device__ __forceinline__
#else
#define SAGEPTQ_HD inline
#endif

// SAGEPTQ_GPU: compile the GPU side (kernel bodies, warp helpers, 16-byte loads): the device pass of NVRTC
// or clang, or the CPU emulator of the tests (SAGEPTQ_EMULATE, which runs each CUDA thread as a host thread).
// SAGEPTQ_PTX: inline PTX is available (the real device pass only).
#if defined(__CUDA_ARCH__)
#define SAGEPTQ_GPU 1
#define SAGEPTQ_PTX 1
#elif defined(SAGEPTQ_EMULATE)
#define SAGEPTQ_GPU 1
#define SAGEPTQ_PTX 0
#else
#define SAGEPTQ_GPU 0
#define SAGEPTQ_PTX 0
#endif

namespace sageptq {

typedef signed char int8_t;
typedef unsigned char uint8_t;
typedef unsigned short uint16_t;
typedef int int32_t;
typedef unsigned int uint32_t;
typedef long long int64_t;
typedef unsigned long long uint64_t;

// ---------------------------------------------------------------------------------------------------
// Arguments. Passed by value to every kernel; all pointers are device pointers (host pointers in tests).
// ---------------------------------------------------------------------------------------------------

/// One linear y = W·x for `tokens` inputs. sections[k] is the k-th section of the linear in pack order
/// (each 16-byte aligned), section_bytes[k] its length. The activation fields are what the layout's
/// prepare function writes for each token (strides: COLS codes, ⌈COLS/block⌉ scales and sums, COLS
/// inputs, 4 totals); output[t·ROWS + r] = y (+ residual[t·ROWS + r] when residual is not null, which
/// may alias output for x += W·h).
struct LinearArgs {
    const void* sections[SAGEPTQ_MAX_SECTIONS];
    int64_t section_bytes[SAGEPTQ_MAX_SECTIONS];
    const int8_t* codes;      // int8 activation codes
    const float* scales;      // d per activation block
    const int32_t* sums;      // Σq per activation block
    const float* input;       // the float activation the codes came from (sage: rotated), for sparse terms
    const float* totals;      // sage: per-token sums the prepare step folds (see sage::prepare)
    float* output;
    const float* residual;
    int32_t tokens;
    int32_t reserved0;
};

/// RMSNorm of `tokens` rows of HIDDEN: h = x / √(mean(x²) + eps) · weight, then (codes not null) the int8
/// activation of h in blocks of `block` (32 or 256).
struct NormArgs {
    const float* x;
    const float* weight;
    float* h;
    int8_t* codes;
    float* scales;
    int32_t* sums;
    float eps;
    int32_t block;
    int32_t tokens;
    int32_t reserved0;
};

/// RoPE on one token's q [HEADS·HEAD_DIM] and k [KV_HEADS·HEAD_DIM] at `position` (pairs i, i + d/2, the
/// Hugging Face "rotate half" layout), with cos/sin tables [positions × HEAD_DIM/2] computed on the host
/// (the CPU RotaryEmbedding's values); then k and v go into the FP16 cache of this layer, laid out
/// [KV_HEADS][max_positions][HEAD_DIM] (key_cache and value_cache apart).
struct RopeArgs {
    float* q;
    float* k;
    const float* v;
    const float* cos_table;
    const float* sin_table;
    uint16_t* key_cache;
    uint16_t* value_cache;
    int32_t position;
    int32_t max_positions;
};

/// Causal attention of one token's q at `position` over cache positions 0..position:
/// out = softmax(q·kᵀ/√d)·v per head; scores is scratch of HEADS × max_positions floats.
struct AttentionArgs {
    const float* q;
    const uint16_t* key_cache;
    const uint16_t* value_cache;
    float* scores;
    float* output;
    int32_t position;
    int32_t max_positions;
};

/// out = silu(gate)·up for `tokens` rows of INTERMEDIATE (out may alias gate), then (codes not null) the
/// int8 activation of out in blocks of `block`.
struct SwigluArgs {
    const float* gate;
    const float* up;
    float* out;
    int8_t* codes;
    float* scales;
    int32_t* sums;
    int32_t block;
    int32_t tokens;
};

/// x += delta for `tokens` rows of HIDDEN.
struct ResidualArgs {
    float* x;
    const float* delta;
    int32_t tokens;
    int32_t reserved0;
};

/// Up to three regions of device memory (start, bytes; 0 bytes = none) for prefetch_l2: the weights of the gemv
/// launched after a prepare kernel.
struct PrefetchArgs {
    const void* start[3];
    int64_t bytes[3];
};

// The host fills these structs byte for byte (64-bit pointers, no padding surprises): fixed sizes.
static_assert(sizeof(PrefetchArgs) == 48, "PrefetchArgs layout");
static_assert(sizeof(LinearArgs) == 224, "LinearArgs layout");
static_assert(sizeof(NormArgs) == 64, "NormArgs layout");
static_assert(sizeof(RopeArgs) == 64, "RopeArgs layout");
static_assert(sizeof(AttentionArgs) == 48, "AttentionArgs layout");
static_assert(sizeof(SwigluArgs) == 56, "SwigluArgs layout");
static_assert(sizeof(ResidualArgs) == 24, "ResidualArgs layout");

// ---------------------------------------------------------------------------------------------------
// Small shared pieces.
// ---------------------------------------------------------------------------------------------------

/// Section k of the linear, or null when the layout's constants say it is absent (k < 0).
SAGEPTQ_HD const void* at(const LinearArgs& args, int k) { return k < 0 ? 0 : args.sections[k]; }
SAGEPTQ_HD int64_t bytes_at(const LinearArgs& args, int k) { return k < 0 ? 0 : args.section_bytes[k]; }

SAGEPTQ_HD float fmax_abs(float m, float v) { float a = v < 0 ? -v : v; return a > m ? a : m; }

SAGEPTQ_HD int round_even(float v) { return __float2int_rn(v); }

/// IEEE binary16 → float. On the GPU one cvt instruction; on the host the bits are rebuilt by hand.
SAGEPTQ_HD float half_to_float(uint16_t h) {
#if SAGEPTQ_PTX
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
#else
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exponent = (h >> 10) & 0x1Fu, mantissa = h & 0x3FFu, bits;
    if (exponent == 0x1F) bits = sign | 0x7F800000u | (mantissa << 13);
    else if (exponent != 0) bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    else if (mantissa == 0) bits = sign;
    else {  // subnormal: normalize
        int shift = 0;
        while ((mantissa & 0x400u) == 0) { mantissa <<= 1; shift++; }
        bits = sign | ((uint32_t)(113 - shift) << 23) | ((mantissa & 0x3FFu) << 13);
    }
    float f;
    __builtin_memcpy(&f, &bits, 4);
    return f;
#endif
}

/// float → binary16, round to nearest even (what the CPU's (Half) cast does).
SAGEPTQ_HD uint16_t float_to_half(float f) {
#if SAGEPTQ_PTX
    uint16_t h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
#else
    uint32_t x;
    __builtin_memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, absolute = x & 0x7FFFFFFFu;
    if (absolute >= 0x7F800000u) return (uint16_t)(sign | 0x7C00u | (absolute > 0x7F800000u ? 0x200u : 0));
    if (absolute >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u);   // rounds to ≥ 65520: infinity
    if (absolute < 0x38800000u) {                                       // subnormal half (or zero)
        if (absolute < 0x33000000u) return (uint16_t)sign;              // below half the smallest subnormal
        uint32_t mantissa = (absolute & 0x7FFFFFu) | 0x800000u;
        int shift = 126 - (int)(absolute >> 23);                          // 14..24
        uint32_t value = mantissa >> shift, rest = mantissa & ((1u << shift) - 1), halfway = 1u << (shift - 1);
        if (rest > halfway || (rest == halfway && (value & 1))) value++;
        return (uint16_t)(sign | value);
    }
    uint32_t value = ((absolute >> 13) - (112u << 10)), rest = absolute & 0x1FFFu;
    if (rest > 0x1000u || (rest == 0x1000u && (value & 1))) value++;
    return (uint16_t)(sign | value);
#endif
}

SAGEPTQ_HD uint16_t read_u16(const uint8_t* p) { return (uint16_t)(p[0] | (p[1] << 8)); }
SAGEPTQ_HD uint32_t read_u32(const uint8_t* p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24); }

/// A 32-bit little-endian word at any address: one load when it is 4-byte aligned (always on the fast
/// paths: shared codes, sign rows of a multiple of 4 bytes), else four byte loads.
SAGEPTQ_HD uint32_t load_u32(const void* p) {
    if (((uint64_t)p & 3) == 0) return *(const uint32_t*)p;
    return read_u32((const uint8_t*)p);
}

SAGEPTQ_HD float square_root(float v) {
#if SAGEPTQ_GPU
    return sqrtf(v);
#else
    return __builtin_sqrtf(v);
#endif
}

SAGEPTQ_HD double square_root(double v) {
#if SAGEPTQ_GPU
    return sqrt(v);
#else
    return __builtin_sqrt(v);
#endif
}

SAGEPTQ_HD float exponential(float v) {
#if SAGEPTQ_GPU
    return expf(v);
#else
    return __builtin_expf(v);
#endif
}
SAGEPTQ_HD float read_half(const void* base, int64_t index) { return half_to_float(read_u16((const uint8_t*)base + 2 * index)); }

/// 1 / √(mean(x²) + eps) from Σx² (FastOps.RmsNorm's float steps).
SAGEPTQ_HD float inverse_rms(float sumOfSquares, int n, float eps) { return 1.0f / square_root(sumOfSquares / (float)n + eps); }

/// Value k of an LSB-first stream of `bits`-bit values (bits ≤ 8 spans at most two bytes); `bytes` bounds the read.
SAGEPTQ_HD int read_bits(const uint8_t* stream, int64_t bytes, int64_t k, int bits) {
    int64_t bit = k * bits, at = bit >> 3;
    int word = stream[at];
    if (at + 1 < bytes) word |= stream[at + 1] << 8;
    return (word >> (int)(bit & 7)) & ((1 << bits) - 1);
}

/// Σ of four int8 products a_k·b_k plus c: one dp4a on the GPU.
SAGEPTQ_HD int dot4(int a, int b, int c) {
#if SAGEPTQ_GPU
    return __dp4a(a, b, c);
#else
    for (int k = 0; k < 4; k++) c += (int)(int8_t)(a >> (8 * k)) * (int)(int8_t)(b >> (8 * k));
    return c;
#endif
}

/// The CPU ActivationQuantizer on one block of n values: the same float operations in the same order
/// (d = max / 127f, inverse = 1 / d, code = round-half-even(v · inverse)), so the bytes are identical.
SAGEPTQ_HD void quantize_block(const float* v, int n, int8_t* codes, float* scale, int32_t* sum) {
    float max = 0;
    for (int i = 0; i < n; i++) max = fmax_abs(max, v[i]);
    float d = max / 127.0f, inverse = d == 0 ? 0.0f : 1.0f / d;
    int total = 0;
    for (int i = 0; i < n; i++) { int code = round_even(v[i] * inverse); codes[i] = (int8_t)code; total += code; }
    *scale = d;
    *sum = total;
}

#if SAGEPTQ_GPU
__device__ __forceinline__ float warp_sum(float v) {
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xFFFFFFFFu, v, offset);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int offset = 16; offset > 0; offset >>= 1) { float o = __shfl_down_sync(0xFFFFFFFFu, v, offset); v = o > v ? o : v; }
    return __shfl_sync(0xFFFFFFFFu, v, 0);
}
/// Σ over the CTA; every thread gets the total. `shared` holds SAGEPTQ_WARPS floats.
__device__ __forceinline__ float block_sum(float v, float* shared) {
    v = warp_sum(v);
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    float total = 0;
    for (int w = 0; w < SAGEPTQ_WARPS; w++) total += shared[w];
    return total;
}
__device__ __forceinline__ float block_max(float v, float* shared) {
    v = warp_max(v);
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    __syncthreads();
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    float m = shared[0];
    for (int w = 1; w < SAGEPTQ_WARPS; w++) m = shared[w] > m ? shared[w] : m;
    return m;
}

/// inverse_rms of one row of n on the calling CTA; every thread gets it. The same partial sums in the same
/// order wherever it runs, so a norm fused into another kernel gives rms_norm_quantize's bits.
__device__ __forceinline__ float cta_inverse_rms(const float* x, int n, float eps, float* shared) {
    float squares = 0;
    for (int i = threadIdx.x; i < n; i += SAGEPTQ_THREADS) squares += x[i] * x[i];
    return inverse_rms(block_sum(squares, shared), n, eps);
}

/// The int8 activation of `n` values of `v` in blocks of `block`, one warp per block (the CPU quantizer's
/// rule; the maximum is exact in any order and the code sum is an integer, so the bytes match).
__device__ __forceinline__ void quantize_rows_warp(const float* v, int n, int block, int8_t* codes, float* scales, int32_t* sums) {
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32, blocks = (n + block - 1) / block;
    for (int b = warp; b < blocks; b += SAGEPTQ_WARPS) {
        int start = b * block, length = n - start < block ? n - start : block;
        float max = 0;
        for (int i = lane; i < length; i += 32) max = fmax_abs(max, v[start + i]);
        max = warp_max(max);
        float d = max / 127.0f, inverse = d == 0 ? 0.0f : 1.0f / d;
        int total = 0;
        for (int i = lane; i < length; i += 32) { int code = round_even(v[start + i] * inverse); codes[start + i] = (int8_t)code; total += code; }
        for (int offset = 16; offset > 0; offset >>= 1) total += __shfl_down_sync(0xFFFFFFFFu, total, offset);
        if (lane == 0) { scales[b] = d; sums[b] = total; }
    }
}

/// Whether (value, id) beats (best, bestId) in argmax: a larger value, or the same with a lower id. Id −1 is
/// "nothing yet" on either side.
__device__ __forceinline__ bool beats(float value, int id, float best, int bestId) {
    return id >= 0 && (bestId < 0 || value > best || (value == best && id < bestId));
}

/// The id of the largest of n values, the lowest on a tie (the CPU Sampler's argmax for finite values), on the
/// calling CTA: each thread keeps the best of its strided share (ids ascend, so a tie keeps the first), then
/// warps and the CTA reduce (value, id) pairs.
__device__ __forceinline__ void argmax(const float* values, int n, int32_t* result) {
    __shared__ float bestValues[SAGEPTQ_WARPS];
    __shared__ int bestIds[SAGEPTQ_WARPS];
    float best = 0;
    int id = -1;
    for (int i = threadIdx.x; i < n; i += SAGEPTQ_THREADS)
        if (id < 0 || values[i] > best) { best = values[i]; id = i; }
    for (int offset = 16; offset > 0; offset >>= 1) {
        float other = __shfl_down_sync(0xFFFFFFFFu, best, offset);
        int otherId = __shfl_down_sync(0xFFFFFFFFu, id, offset);
        if (beats(other, otherId, best, id)) { best = other; id = otherId; }
    }
    int warp = threadIdx.x / 32;
    if (threadIdx.x % 32 == 0) { bestValues[warp] = best; bestIds[warp] = id; }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < SAGEPTQ_WARPS; w++)
            if (beats(bestValues[w], bestIds[w], best, id)) { best = bestValues[w]; id = bestIds[w]; }
        *result = id;
    }
}

/// x = row `*token` of an FP32 embedding table [vocab × HIDDEN]: the token id is read from device memory, where
/// the host or the last step's greedy argmax put it. Grid-stride over the HIDDEN values.
template <int HIDDEN>
__device__ __forceinline__ void embed(const float* table, const int32_t* token, float* x) {
    const float* row = table + (int64_t)*token * HIDDEN;
    for (int i = blockIdx.x * SAGEPTQ_THREADS + threadIdx.x; i < HIDDEN; i += gridDim.x * SAGEPTQ_THREADS) x[i] = row[i];
}

/// Busy-waits for `nanoseconds` of the GPU's global timer (a profiling aid: it keeps the GPU busy while the
/// host queues the launches to be timed behind it).
__device__ __forceinline__ void spin(long long nanoseconds) {
#if SAGEPTQ_PTX
    unsigned long long start, now;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
    do asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
    while ((long long)(now - start) < nanoseconds);
#else
    (void)nanoseconds;
#endif
}

/// Copies `bytes` (a multiple of 16, both ends 16-byte aligned) into shared memory with 16-byte loads.
__device__ __forceinline__ void copy16(void* destination, const void* source, int bytes) {
    const uint4* from = (const uint4*)source;
    uint4* to = (uint4*)destination;
    for (int i = threadIdx.x; i < bytes / 16; i += SAGEPTQ_THREADS) to[i] = from[i];
}

/// Starts bringing the regions of `p` into L2 and returns at once, on the calling CTA: on sm_90 and later one bulk
/// prefetch (cp.async.bulk.prefetch.L2, the copy engine's) per 64 KiB, spread over the threads; elsewhere nothing.
/// A prepare kernel calls it first, so that the weights its gemv reads next stream in from memory while it works
/// through its serial steps. A hint: no result depends on it.
__device__ __forceinline__ void prefetch_l2(const PrefetchArgs& p) {
#if SAGEPTQ_PTX && __CUDA_ARCH__ >= 900
    constexpr int64_t Chunk = 1 << 16;
#pragma unroll
    for (int r = 0; r < 3; r++) {
        int64_t bytes = p.bytes[r] & ~(int64_t)15;   // whole 16-byte units from a 16-byte aligned start
        for (int64_t at = (int64_t)threadIdx.x * Chunk; at < bytes; at += (int64_t)SAGEPTQ_THREADS * Chunk) {
            unsigned size = (unsigned)(bytes - at < Chunk ? bytes - at : Chunk);
            asm volatile("{\n\t.reg .u64 g;\n\tcvta.to.global.u64 g, %0;\n\tcp.async.bulk.prefetch.L2.global [g], %1;\n\t}"
                         :: "l"((const char*)p.start[r] + at), "r"(size) : "memory");
        }
    }
#else
    (void)p;
#endif
}

/// Asks for the `bytes` at `p` in this SM's L1, one 128-byte line per thread of the calling CTA, and returns at once
/// (prefetch.global.L1; nothing off the GPU). For the small tables a single-CTA kernel reads late in a chain of
/// dependent steps: their memory latency then passes while the steps before run. A hint: no result depends on it.
__device__ __forceinline__ void prefetch_l1(const void* p, int64_t bytes) {
#if SAGEPTQ_PTX
    for (int64_t at = (int64_t)threadIdx.x * 128; at < bytes; at += (int64_t)SAGEPTQ_THREADS * 128)
        asm volatile("{\n\t.reg .u64 g;\n\tcvta.to.global.u64 g, %0;\n\tprefetch.global.L1 [g];\n\t}" :: "l"((const char*)p + at));
#else
    (void)p;
    (void)bytes;
#endif
}

/// A 16-byte load of weights, which a token reads once: on the GPU with the streaming (evict-first) cache hint,
/// ld.global.cs, so that they do not push the activations and the KV cache out of L2.
__device__ __forceinline__ uint4 load_streaming(const void* p) {
#if SAGEPTQ_PTX
    return __ldcs((const uint4*)p);
#else
    return *(const uint4*)p;
#endif
}

/// Rows first .. first + R − 1 of linear L (those below L::Rows; y is 0 past them), one after another on the
/// calling warp: the multi-row step of the layouts that have no faster one. Every lane gets every y.
template <class L, int R>
__device__ __forceinline__ void rows_one_by_one(const LinearArgs& args, const typename L::Staged& s, int token, int first, float* y) {
#pragma unroll
    for (int r = 0; r < R; r++) y[r] = first + r < L::Rows ? L::row(args, s, token, first + r) : 0.0f;
}

/// Rows of linear L for token blockIdx.y, L::RowsPerWarp consecutive rows per warp: warp w of CTA `cta` takes
/// the R rows from (cta·WARPS + w)·R, then every ctas·WARPS·R rows further; written to output (+ residual).
/// A linear's own gemv hands it the whole grid; a fused launch of several linears gives each a range of CTAs.
/// Any grid is correct (the rows are strided over it); the host launches ⌈rows / (WARPS·R)⌉ CTAs. L is a
/// layout's Linear type: Staged is what a CTA keeps of the token's activation in shared memory, stage() fills
/// it, rows<R>() returns R rows' warp sums to every lane.
template <class L>
__device__ __forceinline__ void gemv_ctas(const LinearArgs& args, int cta, int ctas) {
    constexpr int R = L::RowsPerWarp;
    __shared__ typename L::Staged staged;
    int token = blockIdx.y;
    L::stage(args, token, staged);
    __syncthreads();
    for (int first = (cta * SAGEPTQ_WARPS + threadIdx.x / 32) * R; first < L::Rows; first += ctas * SAGEPTQ_WARPS * R) {
        float y[R];
        L::template rows<R>(args, staged, token, first, y);
        if (threadIdx.x % 32 == 0) {
#pragma unroll
            for (int r = 0; r < R; r++)
                if (first + r < L::Rows) {
                    int64_t at = (int64_t)token * L::Rows + first + r;
                    args.output[at] = args.residual ? y[r] + args.residual[at] : y[r];
                }
        }
    }
}
#endif

// ---------------------------------------------------------------------------------------------------
// sage: 1-bit signs in 256-weight bit-plane blocks, group scales, optional row offsets, salient codes.
// ---------------------------------------------------------------------------------------------------
namespace sage {

enum : int { SalientPerWeight = 1, GroupPerWeight = 2, RowOffsets = 4, Rotated = 8 };

/// Where each section sits in LinearArgs::sections for these template constants (pack order,
/// SageLayout.Encode), and the derived shapes. -1: absent.
template <int ROWS, int COLS, int FLAGS, int GROUPS, int SALIENT_BITS, int SALIENT_COUNT, int SCALE_MODE>
struct Shape {
    static constexpr int Stride = (COLS + 7) / 8;                    // sign bytes per row
    static constexpr int FullBlocks = COLS / 256;
    static constexpr int Blocks = (COLS + 255) / 256;                 // activation blocks
    static constexpr int TailWeights = COLS - FullBlocks * 256;
    static constexpr int TailBytes = (TailWeights + 7) / 8;
    // Sign rows of a multiple of 16 bytes (COLS % 128 == 0, all LLaMA shapes) are read 16 bytes per lane, two
    // lanes per 32-byte block, so a warp pass covers 16 blocks = 512 contiguous bytes; other rows 4 bytes per
    // lane, eight lanes per block.
    static constexpr int LanesPerBlock = Stride % 16 == 0 ? 2 : 8;
    static constexpr int WordsPerLane = 8 / LanesPerBlock;
    static constexpr int BlocksPerPass = 32 / LanesPerBlock;
    static constexpr bool PerWeightSalient = (FLAGS & SalientPerWeight) != 0;
    static constexpr bool PerWeightGroups = (FLAGS & GroupPerWeight) != 0;
    // Scale folded into the activation (v_j = c_g(j)·x'_j), as the CPU kernel does: one α factor per row.
    static constexpr bool Folded = SCALE_MODE != 2 && !PerWeightGroups;
    static constexpr int GroupIdBits = GROUPS <= 1 ? 0 : GROUPS <= 2 ? 1 : GROUPS <= 4 ? 2 : GROUPS <= 8 ? 3 : GROUPS <= 16 ? 4 : GROUPS <= 32 ? 5 : GROUPS <= 64 ? 6 : GROUPS <= 128 ? 7 : 8;
    static constexpr int Signs = 0;
    static constexpr int GroupScales = 1;
    static constexpr int RowScales = SCALE_MODE == 1 ? 2 : -1;
    static constexpr int RowOffsetsAt = (FLAGS & RowOffsets) ? (SCALE_MODE == 1 ? 3 : 2) : -1;
    static constexpr int AfterScalars = 2 + (SCALE_MODE == 1) + ((FLAGS & RowOffsets) ? 1 : 0);
    static constexpr int GroupIds = GROUPS > 1 ? AfterScalars : -1;
    static constexpr int SalientStart = AfterScalars + (GROUPS > 1 ? 1 : 0);
    static constexpr int SalientRowCounts = SALIENT_COUNT > 0 && PerWeightSalient ? SalientStart : -1;
    static constexpr int SalientIndices = SALIENT_COUNT > 0 ? SalientStart + (PerWeightSalient ? 1 : 0) : -1;  // salient_columns in column mode
    static constexpr int SalientCodes = SALIENT_COUNT > 0 ? SalientIndices + 1 : -1;
    static constexpr int SalientScales = SALIENT_COUNT > 0 ? SalientIndices + 2 : -1;
    static constexpr int SectionCount = SALIENT_COUNT > 0 ? SalientScales + 1 : SalientStart;
};

/// Draw k of SplitMix64 from `seed`, directly: its state after k + 1 steps is seed + (k + 1)·γ, so every
/// thread can make its own word of RandomizedHadamard's sign stream.
SAGEPTQ_HD uint64_t sign_word(uint64_t seed, int k) {
    uint64_t z = seed + (uint64_t)(k + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/// Butterfly p (of cols / 2) of the stage with span h = 2^shift of the blockwise Walsh–Hadamard transform
/// (block b = the largest power of two dividing cols): (x_i, x_{i+h}) → (x_i + x_{i+h}, x_i − x_{i+h}). The
/// pairs of a stage are disjoint and each output is the same two-operand float operation as in
/// RandomizedHadamard, so any order within a stage, or threads side by side, gives the CPU's bits. The span is
/// a shift, so that finding the pair takes shifts and masks, not a division by a run-time h.
SAGEPTQ_HD void butterfly(float* x, int cols, int shift, int p) {
    int b = cols & -cols, h = 1 << shift, start = p / (b / 2) * b, r = p % (b / 2);
    int i = start + ((r >> shift) << (shift + 1)) + (r & (h - 1));
    float u = x[i], v = x[i + h];
    x[i] = u + v;
    x[i + h] = u - v;
}

/// (u, v) → u + v on the lower element of a butterfly, u − v on the upper: the one float operation of each
/// output, whichever side holds it.
SAGEPTQ_HD float butterfly_half(float mine, float other, bool lower) { return lower ? mine + other : other - mine; }

/// The steps of sage::prepare, each a function of one element so that the host loops them in order and a CTA
/// runs each across its threads with a barrier between steps (sage::prepare_activation).
template <int ROWS, int COLS, int FLAGS, int GROUPS, int SALIENT_BITS, int SALIENT_COUNT, int SCALE_MODE>
struct PrepareSteps {
    typedef Shape<ROWS, COLS, FLAGS, GROUPS, SALIENT_BITS, SALIENT_COUNT, SCALE_MODE> S;
    static constexpr int Block = COLS & -COLS;

    /// D_j·x_j (RandomizedHadamard.Forward's first step), or x_j unrotated.
    static SAGEPTQ_HD float sign(float x, uint64_t seed, int j) {
        bool negative = (FLAGS & Rotated) && ((sign_word(seed, j / 64) >> (j % 64)) & 1);
        return negative ? x * -1.0f : x;
    }

    /// The last step of the rotation: one multiply of each value by this, (float)(1/√b).
    static SAGEPTQ_HD float normalizer() { return (float)(1.0 / square_root((double)Block)); }

    /// v_j = c_g(j)·x'_j when the scale folds into the activation (scale modes 0/1, column groups), else x'_j.
    static SAGEPTQ_HD void fold(const void* const* sections, const float* rotated, float* work, int j) {
        if (S::Folded) {
            int g = GROUPS > 1 ? ((const uint8_t*)sections[S::GroupIds < 0 ? 0 : S::GroupIds])[j] : 0;
            work[j] = rotated[j] * read_half(sections[S::GroupScales], g);
        } else {
            work[j] = rotated[j];
        }
    }

    /// Column mode: salient column r takes no part in the binary product (v = 0); returns x' there.
    static SAGEPTQ_HD float clear_salient(const void* const* sections, const float* rotated, float* work, int r) {
        int column = read_u16((const uint8_t*)sections[S::SalientIndices < 0 ? 0 : S::SalientIndices] + 2 * r);
        work[column] = 0;
        return rotated[column];
    }
};

/// Prepares one token's activation for a sage linear (SageCpuLinear.Prepare, on one thread): x' = rotated x
/// (written to `rotated`), v_j = c_g(j)·x'_j when the scale folds into the activation (else x'_j), 0 at
/// salient columns in column mode, quantized in 256-blocks into codes/scales/sums. totals[0] = Σ_b d_b·Σq_b,
/// totals[1] = 2^(b−1)·Σ_salient x', totals[2] = Σ x' over unsalient columns (per-weight mode: over all).
/// `work` holds COLS floats. `seed` is the rotate_seed parameter pair (ignored without Rotated).
template <int ROWS, int COLS, int FLAGS, int GROUPS, int SALIENT_BITS, int SALIENT_COUNT, int SCALE_MODE>
SAGEPTQ_HD void prepare(const LinearArgs& args, const float* x, uint64_t seed, float* rotated, float* work,
                        int8_t* codes, float* scales, int32_t* sums, float* totals) {
    typedef Shape<ROWS, COLS, FLAGS, GROUPS, SALIENT_BITS, SALIENT_COUNT, SCALE_MODE> S;
    typedef PrepareSteps<ROWS, COLS, FLAGS, GROUPS, SALIENT_BITS, SALIENT_COUNT, SCALE_MODE> Step;
    for (int j = 0; j < COLS; j++) rotated[j] = Step::sign(x[j], seed, j);
    if (FLAGS & Rotated) {
        for (int shift = 0; (1 << shift) < Step::Block; shift++)
            for (int p = 0; p < COLS / 2; p++) butterfly(rotated, COLS, shift, p);
        float normalizer = Step::normalizer();
        for (int j = 0; j < COLS; j++) rotated[j] *= normalizer;
    }
    float salientSum = 0, sum = 0;
    for (int j = 0; j < COLS; j++) sum += rotated[j];
    for (int j = 0; j < COLS; j++) Step::fold(args.sections, rotated, work, j);
    if (SALIENT_COUNT > 0 && !S::PerWeightSalient)
        for (int r = 0; r < SALIENT_COUNT; r++) salientSum += Step::clear_salient(args.sections, rotated, work, r);
    float total = 0;
    for (int b = 0; b < S::Blocks; b++) {
        int start = b * 256, length = COLS - start < 256 ? COLS - start : 256;
        quantize_block(work + start, length, codes + start, scales + b, sums + b);
        total += scales[b] * (float)sums[b];
    }
    totals[0] = total;
    totals[1] = (float)(1 << (SALIENT_BITS - 1)) * salientSum;
    totals[2] = S::PerWeightSalient ? sum : sum - salientSum;
    totals[3] = 0;
}

/// sage::prepare on the GPU, one CTA per token (prepare_token): the same element steps spread over the threads
/// with a barrier after each, the quantization one warp per block. Codes, scales, sums, x' and totals[0] come
/// out bit-identical to the host version; totals[1..2] are float sums in another order (rounding-level
/// differences). Arguments: the linear's sections as in LinearArgs, x (tokens × COLS), rotated = the
/// LinearArgs input, work (tokens × COLS scratch, used when x' does not fit on chip), codes/scales/sums/totals
/// = the LinearArgs activation.
struct PrepareArgs {
    const void* sections[SAGEPTQ_MAX_SECTIONS];
    const float* x;
    float* rotated;
    float* work;
    int8_t* codes;
    float* scales;
    int32_t* sums;
    float* totals;
    uint64_t seed;
};

static_assert(sizeof(PrepareArgs) == 144, "PrepareArgs layout");

#ifndef SAGEPTQ_PREPARE_ON_CHIP_FLOATS
#define SAGEPTQ_PREPARE_ON_CHIP_FLOATS 11264   // 44 KB: every LLaMA-2-7B input (≤ 11008 columns) fits under the 48 KB static limit
#endif

#if SAGEPTQ_GPU
/// The first step of a rotated prepare on the calling CTA, without a barrier between its stages: each thread
/// takes chunks of 8 consecutive values, x_j·inverse·w_j (w = norm_weight, or x_j alone without it) with the
/// rotation's signs, and runs the Hadamard stages of span < 256 on them: spans 1, 2, 4 inside the chunk, spans
/// 8 .. 128 with the chunk 1 .. 16 lanes away (chunk c is lane c mod 32 of its warp, and a block of b values is
/// b / 8 whole chunks, so a partner is always in the same warp). Then v = the result, for the stages of span
/// 256 and up. The outputs are butterfly()'s float operations in RandomizedHadamard's stage order. Needs
/// COLS % 8 == 0.
template <class Step, int COLS>
__device__ __forceinline__ void sign_and_hadamard_in_warps(const float* x, const float* norm_weight, float inverse, uint64_t seed, float* v) {
    constexpr int Chunks = COLS / 8;
    int lane = threadIdx.x % 32;
    for (int base = 0; base < Chunks; base += SAGEPTQ_THREADS) {   // the same trip count on every thread (for the shuffles)
        int c = base + threadIdx.x;
        bool active = c < Chunks;
        float a[8];
#pragma unroll
        for (int i = 0; i < 8; i++) {
            int j = 8 * c + i;
            a[i] = active ? Step::sign(norm_weight ? x[j] * inverse * norm_weight[j] : x[j], seed, j) : 0.0f;
        }
#pragma unroll
        for (int h = 1; h < 8 && h < Step::Block; h <<= 1)
#pragma unroll
            for (int i = 0; i < 8; i++)
                if ((i & h) == 0) {
                    float u = a[i], w = a[i + h];
                    a[i] = u + w;
                    a[i + h] = u - w;
                }
#pragma unroll
        for (int m = 1; m < 32 && 8 * m < Step::Block; m <<= 1) {
            bool lower = (lane & m) == 0;
#pragma unroll
            for (int i = 0; i < 8; i++) a[i] = butterfly_half(a[i], __shfl_sync(0xFFFFFFFFu, a[i], lane ^ m), lower);
        }
        if (active) {
#pragma unroll
            for (int i = 0; i < 8; i++) v[8 * c + i] = a[i];
        }
    }
}

/// The CTA's shared buffer where sage::prepare_token builds x'. One variable for every instantiation (a plain
/// function, not a template), so a launch that prepares q, k and v side by side reserves it once.
__device__ __forceinline__ float* prepare_buffer() {
    __shared__ float buffer[SAGEPTQ_PREPARE_ON_CHIP_FLOATS];
    return buffer;
}
#endif

/// Token `token` of sage::prepare on the calling CTA. With norm_weight, x is first RMS-normalized (x·inverse·w,
/// the norm kernel's float steps, so the same bits), which lets a layer's input norm and the activations of
/// the sage linears reading it share one launch. One CTA works through a dozen dependent steps here, so the
/// vector stays in shared memory when it fits (the Hadamard stages, the fold and the quantization read and
/// write on-chip; x' goes to `rotated` once, for the gemv); larger inputs work in `rotated` and `work`.
template <int ROWS, int COLS, int FLAGS, int GROUPS, int SALIENT_BITS, int SALIENT_COUNT, int SCALE_MODE>
__device__ __forceinline__ void prepare_token(const PrepareArgs& args, const float* norm_weight, float eps, int token) {
#if SAGEPTQ_GPU
    typedef Shape<ROWS, COLS, FLAGS, GROUPS, SALIENT_BITS, SALIENT_COUNT, SCALE_MODE> S;
    typedef PrepareSteps<ROWS, COLS, FLAGS, GROUPS, SALIENT_BITS, SALIENT_COUNT, SCALE_MODE> Step;
    constexpr bool OnChip = COLS <= SAGEPTQ_PREPARE_ON_CHIP_FLOATS;
    __shared__ float shared[SAGEPTQ_WARPS];
    const float* x = args.x + (int64_t)token * COLS;
    float* rotated = args.rotated + (int64_t)token * COLS;
    float* v = OnChip ? prepare_buffer() : rotated;                          // x', built in place
    float* folded = OnChip ? v : args.work + (int64_t)token * COLS;         // c_g(j)·x'_j, then salient columns cleared
    // What the later steps read besides x, requested now so that it waits in L1 when they get there.
    if (norm_weight) prefetch_l1(norm_weight, 4 * COLS);
    if (S::Folded && GROUPS > 1) prefetch_l1(args.sections[S::GroupIds < 0 ? 0 : S::GroupIds], COLS);
    if (S::Folded) prefetch_l1(args.sections[S::GroupScales], 2 * GROUPS);
    if (SALIENT_COUNT > 0 && !S::PerWeightSalient) prefetch_l1(args.sections[S::SalientIndices < 0 ? 0 : S::SalientIndices], 2 * SALIENT_COUNT);
    float inverse = norm_weight ? cta_inverse_rms(x, COLS, eps, shared) : 1.0f;
    // The signs and the Hadamard stages: those of span < 256 in registers and shuffles when the shape allows,
    // the rest one stage per barrier.
    constexpr bool InWarps = (FLAGS & Rotated) && COLS % 8 == 0;
    if (InWarps) {
        sign_and_hadamard_in_warps<Step, COLS>(x, norm_weight, inverse, args.seed, v);
    } else {
        for (int j = threadIdx.x; j < COLS; j += SAGEPTQ_THREADS)
            v[j] = Step::sign(norm_weight ? x[j] * inverse * norm_weight[j] : x[j], args.seed, j);
    }
    __syncthreads();
    if (FLAGS & Rotated)
        for (int shift = InWarps ? 8 : 0; (1 << shift) < Step::Block; shift++) {
            for (int p = threadIdx.x; p < COLS / 2; p += SAGEPTQ_THREADS) butterfly(v, COLS, shift, p);
            __syncthreads();
        }
    float normalizer = (FLAGS & Rotated) ? Step::normalizer() : 1.0f, sum = 0, salientSum = 0;
    // Each thread normalizes, copies, sums and folds its own elements, so folding in place is safe.
    for (int j = threadIdx.x; j < COLS; j += SAGEPTQ_THREADS) {
        if (FLAGS & Rotated) v[j] *= normalizer;
        if (OnChip) rotated[j] = v[j];
        sum += v[j];
        Step::fold(args.sections, v, folded, j);
    }
    sum = block_sum(sum, shared);
    __syncthreads();
    if (SALIENT_COUNT > 0 && !S::PerWeightSalient)   // reads x' from `rotated`, which the barriers above made visible
        for (int r = threadIdx.x; r < SALIENT_COUNT; r += SAGEPTQ_THREADS) salientSum += Step::clear_salient(args.sections, rotated, folded, r);
    salientSum = block_sum(salientSum, shared);
    __syncthreads();
    int8_t* codes = args.codes + (int64_t)token * COLS;
    float* scales = args.scales + (int64_t)token * S::Blocks;
    int32_t* sums = args.sums + (int64_t)token * S::Blocks;
    quantize_rows_warp(folded, COLS, 256, codes, scales, sums);
    __syncthreads();
    if (threadIdx.x == 0) {
        float total = 0;   // in block order, as the CPU adds it
        for (int b = 0; b < S::Blocks; b++) total += scales[b] * (float)sums[b];
        float* totals = args.totals + 4 * token;
        totals[0] = total;
        totals[1] = (float)(1 << (SALIENT_BITS - 1)) * salientSum;
        totals[2] = S::PerWeightSalient ? sum : sum - salientSum;
        totals[3] = 0;
    }
#endif
}

/// The prepare kernel of one sage linear: token blockIdx.x.
template <int ROWS, int COLS, int FLAGS, int GROUPS, int SALIENT_BITS, int SALIENT_COUNT, int SCALE_MODE>
__device__ __forceinline__ void prepare_activation(const PrepareArgs args) {
#if SAGEPTQ_GPU
    prepare_token<ROWS, COLS, FLAGS, GROUPS, SALIENT_BITS, SALIENT_COUNT, SCALE_MODE>(args, 0, 0.0f, blockIdx.x);
#endif
}

/// Σ [sign = +]·q over the 32 weights that 32-bit word w (bytes 4w..4w+3) of a full block's 32 sign bytes
/// covers: plane p of the word, (word >> p) & 0x01010101, is the 0/1 signs of weights 32p + 4w .. +3, lined
/// up with one int of codes, so one dp4a per 4 weights.
SAGEPTQ_HD int plane_word_dot(uint32_t word, const int8_t* blockCodes, int w) {
    int dot = 0;
    for (int p = 0; p < 8; p++) {
        int bits = (int)((word >> p) & 0x01010101u);
        dot = dot4(bits, (int)load_u32(blockCodes + 32 * p + 4 * w), dot);
    }
    return dot;
}

#if SAGEPTQ_GPU
/// Σ [sign = +]·q over the 128 weights of a full block that 16 sign bytes cover (lane share `sub` of 2): plane p
/// of the four words covers the 16 contiguous code bytes 32p + 16·sub, which codes[p] holds.
__device__ __forceinline__ int planes_dot(uint4 words, const uint4* codes) {
    int dot = 0;
#pragma unroll
    for (int p = 0; p < 8; p++) {
        dot = dot4((int)((words.x >> p) & 0x01010101u), (int)codes[p].x, dot);
        dot = dot4((int)((words.y >> p) & 0x01010101u), (int)codes[p].y, dot);
        dot = dot4((int)((words.z >> p) & 0x01010101u), (int)codes[p].z, dot);
        dot = dot4((int)((words.w >> p) & 0x01010101u), (int)codes[p].w, dot);
    }
    return dot;
}

/// A lane's 128 code bytes of a full block for planes_dot: one 16-byte shared load per plane instead of four
/// 4-byte ones (shared-memory load issue, not the dp4a, is the tighter limit).
__device__ __forceinline__ void load_plane_codes(const int8_t* blockCodes, int sub, uint4* codes) {
#pragma unroll
    for (int p = 0; p < 8; p++) codes[p] = *(const uint4*)(blockCodes + 32 * p + 16 * sub);
}
#endif

/// Lane `sub` of the LANES lanes sharing a full block: words sub·W .. sub·W + W − 1 of its 32 bytes
/// (W = 8 / LANES); on the GPU with W = 4 one 16-byte load when the address allows it.
template <int LANES>
SAGEPTQ_HD int lane_block_dot(const uint8_t* blockSigns, const int8_t* blockCodes, int sub) {
    constexpr int W = 8 / LANES;
#if SAGEPTQ_GPU
    if (W == 4 && ((uint64_t)blockSigns & 15) == 0) {
        uint4 codes[8];
        load_plane_codes(blockCodes, sub, codes);
        return planes_dot(load_streaming(blockSigns + 16 * sub), codes);
    }
#endif
    int dot = 0;
    for (int k = 0; k < W; k++) dot += plane_word_dot(load_u32(blockSigns + 4 * (sub * W + k)), blockCodes, sub * W + k);
    return dot;
}

/// The short last block (n = COLS mod 256 weights, B = ⌈n/8⌉ bytes, weight t at byte t mod B, bit t / B):
/// lane l < B takes byte l.
template <int COLS>
SAGEPTQ_HD int tail_dot(const uint8_t* tailSigns, const int8_t* tailCodes, int lane) {
    constexpr int n = COLS % 256, B = (n + 7) / 8;
    int dot = 0;
    if (lane < B) {
        int byte = tailSigns[lane];
        for (int p = 0; p < 8; p++) {
            int t = p * B + lane;
            if (t < n && ((byte >> p) & 1)) dot += tailCodes[t];
        }
    }
    return dot;
}

/// Σ_lanes block_dot(row, b, lane) = Σ_{j∈b} [sign_ij = +]·q_j exactly: the integer core, exposed for tests.
/// Full blocks: the block's LanesPerBlock lanes, as row_partial deals them out.
template <int ROWS, int COLS, int FLAGS, int GROUPS, int SALIENT_BITS, int SALIENT_COUNT, int SCALE_MODE>
SAGEPTQ_HD int block_dot(const LinearArgs& args, const int8_t* codes, int row, int b, int lane) {
    typedef Shape<ROWS, COLS, FLAGS, GROUPS, SALIENT_BITS, SALIENT_COUNT, SCALE_MODE> S;
    const uint8_t* signs = (const uint8_t*)at(args, S::Signs) + (int64_t)row * S::Stride;
    if (b >= S::FullBlocks) return tail_dot<COLS>(signs + S::FullBlocks * 32, codes + S::FullBlocks * 256, lane);
    if (lane >= S::LanesPerBlock) return 0;
    return lane_block_dot<S::LanesPerBlock>(signs + 32 * b, codes + 256 * b, lane);
}

/// α_ij of an unsalient weight in the unfolded modes (scale mode 2 or per-weight groups).
template <int ROWS, int COLS, int FLAGS, int GROUPS, int SALIENT_BITS, int SALIENT_COUNT, int SCALE_MODE>
SAGEPTQ_HD float weight_scale(const LinearArgs& args, int row, int col) {
    typedef Shape<ROWS, COLS, FLAGS, GROUPS, SALIENT_BITS, SALIENT_COUNT, SCALE_MODE> S;
    int g = 0;
    if (GROUPS > 1)
        g = S::PerWeightGroups
            ? read_bits((const uint8_t*)at(args, S::GroupIds), bytes_at(args, S::GroupIds), (int64_t)row * COLS + col, S::GroupIdBits)
            : ((const uint8_t*)at(args, S::GroupIds))[col];
    if (SCALE_MODE == 2) return read_half(at(args, S::GroupScales), (int64_t)row * GROUPS + g);
    float table = read_half(at(args, S::GroupScales), g);
    return SCALE_MODE == 1 ? read_half(at(args, S::RowScales), row) * table : table;
}

/// The full blocks of row_partial with folded scales: Σ_b d_b·(this lane's share of Σ_{j∈b}[+]·q_j), BlocksPerPass
/// blocks per warp pass: lane l takes share l mod LanesPerBlock of block BlocksPerPass·pass + l / LanesPerBlock, so
/// consecutive lanes read consecutive bytes of the row.
template <int ROWS, int COLS, int FLAGS, int GROUPS, int SALIENT_BITS, int SALIENT_COUNT, int SCALE_MODE>
SAGEPTQ_HD float full_blocks_partial(const LinearArgs& args, const int8_t* codes, const float* scales, int row, int lane) {
    typedef Shape<ROWS, COLS, FLAGS, GROUPS, SALIENT_BITS, SALIENT_COUNT, SCALE_MODE> S;
    const uint8_t* signs = (const uint8_t*)at(args, S::Signs) + (int64_t)row * S::Stride;
    float part = 0;
    for (int b = lane / S::LanesPerBlock; b < S::FullBlocks; b += S::BlocksPerPass)
        part += scales[b] * (float)lane_block_dot<S::LanesPerBlock>(signs + 32 * b, codes + 256 * b, lane % S::LanesPerBlock);
    return part;
}

/// One lane's share (of 32) of y_row for one token; the 32 shares add up to
/// y_i = a_i·(2·Σ_b d_b·Σ_{j∈b}[+]·q_j − Σ_b d_b·Σq_b) + t_i·Σ_r (code_ir − 2^(b−1))·x'_r + μ_i·Σ_unsalient x'
/// (folded scales; unfolded: Σ_j α_ij·(±1)·d_b·q_j for the binary part). `codes`/`scales`/`totals` are this
/// token's activation (shared memory on the GPU), `input` its rotated float x'. `blocks` is the lane's
/// full_blocks_partial with folded scales (0 unfolded): row_partial below, or a warp that computes it for
/// several rows at once (Linear::rows).
template <int ROWS, int COLS, int FLAGS, int GROUPS, int SALIENT_BITS, int SALIENT_COUNT, int SCALE_MODE>
SAGEPTQ_HD float row_partial_from(const LinearArgs& args, const int8_t* codes, const float* scales, const float* input,
                                  const float* totals, int row, int lane, float blocks) {
    typedef Shape<ROWS, COLS, FLAGS, GROUPS, SALIENT_BITS, SALIENT_COUNT, SCALE_MODE> S;
    float rowScale = SCALE_MODE == 1 ? read_half(at(args, S::RowScales), row) : 1.0f;
    float offset = (FLAGS & RowOffsets) ? read_half(at(args, S::RowOffsetsAt), row) : 0.0f;
    const uint8_t* signs = (const uint8_t*)at(args, S::Signs) + (int64_t)row * S::Stride;
    float part = blocks;
    if (S::Folded) {
        if (S::TailWeights > 0)
            part += scales[S::FullBlocks] * (float)tail_dot<COLS>(signs + S::FullBlocks * 32, codes + S::FullBlocks * 256, lane);
        part = rowScale * 2.0f * part;
        if (lane == 0) part -= rowScale * totals[0];
    } else {
        for (int j = lane; j < COLS; j += 32) {
            int blockStart = j / 256 * 256, width = j >= S::FullBlocks * 256 ? S::TailBytes : 32, t = j - blockStart;
            bool positive = (signs[blockStart / 8 + t % width] >> (t / width)) & 1;
            float alpha = weight_scale<ROWS, COLS, FLAGS, GROUPS, SALIENT_BITS, SALIENT_COUNT, SCALE_MODE>(args, row, j);
            float value = scales[j / 256] * (float)codes[j];
            part += alpha * (positive ? value : -value);
        }
    }
    if (lane == 0) part += offset * totals[2];
    if (SALIENT_COUNT > 0) {
        float salientScale = read_half(at(args, S::SalientScales), row);
        const uint8_t* codeStream = (const uint8_t*)at(args, S::SalientCodes);
        int64_t codeBytes = bytes_at(args, S::SalientCodes);
        const uint8_t* indices = (const uint8_t*)at(args, S::SalientIndices);
        if (!S::PerWeightSalient) {
            float dot = 0;
            for (int r = lane; r < SALIENT_COUNT; r += 32)
                dot += (float)read_bits(codeStream, codeBytes, (int64_t)row * SALIENT_COUNT + r, SALIENT_BITS) * input[read_u16(indices + 2 * r)];
            part += salientScale * dot;
            if (lane == 0) part -= salientScale * totals[1];
        } else {
            // The row's entries start after the counts of the rows above (summed here: per-weight mode is rare).
            const uint8_t* counts = (const uint8_t*)at(args, S::SalientRowCounts);
            int64_t first = 0;
            for (int r = 0; r < row; r++) first += read_u16(counts + 2 * r);
            int count = read_u16(counts + 2 * row), half = 1 << (SALIENT_BITS - 1);
            for (int r = lane; r < count; r += 32) {
                int j = read_u16(indices + 2 * (first + r));
                int code = read_bits(codeStream, codeBytes, first + r, SALIENT_BITS);
                part += salientScale * (float)(code - half) * input[j];
                // The sign plane holds 0 (−) there: take back the −α·d·q the binary part added, and the offset.
                float alpha = S::Folded ? rowScale : weight_scale<ROWS, COLS, FLAGS, GROUPS, SALIENT_BITS, SALIENT_COUNT, SCALE_MODE>(args, row, j);
                part += alpha * scales[j / 256] * (float)codes[j] - offset * input[j];
            }
        }
    }
    return part;
}

/// One lane's share of y_row (see row_partial_from).
template <int ROWS, int COLS, int FLAGS, int GROUPS, int SALIENT_BITS, int SALIENT_COUNT, int SCALE_MODE>
SAGEPTQ_HD float row_partial(const LinearArgs& args, const int8_t* codes, const float* scales, const float* input,
                             const float* totals, int row, int lane) {
    float blocks = Shape<ROWS, COLS, FLAGS, GROUPS, SALIENT_BITS, SALIENT_COUNT, SCALE_MODE>::Folded
        ? full_blocks_partial<ROWS, COLS, FLAGS, GROUPS, SALIENT_BITS, SALIENT_COUNT, SCALE_MODE>(args, codes, scales, row, lane) : 0.0f;
    return row_partial_from<ROWS, COLS, FLAGS, GROUPS, SALIENT_BITS, SALIENT_COUNT, SCALE_MODE>(args, codes, scales, input, totals, row, lane, blocks);
}

/// The sage gemv as a type (see gemv_ctas): the token's codes and block scales (≤ 12 KB for 11008 columns)
/// and its totals are staged once per CTA in shared memory and every warp reads them there; sign bytes come
/// from global memory once, 16 bytes per lane per pass (4 on odd shapes). On the fast path (folded scales,
/// 16-byte sign rows: every LLaMA shape) a warp takes SAGEPTQ_SAGE_ROWS_PER_WARP rows at once (4 unless the
/// host says otherwise), so each lane loads its codes of a block from shared memory once for those rows and has
/// as many weight loads in flight (docs/cuda-kernels.md).
template <int ROWS, int COLS, int FLAGS, int GROUPS, int SALIENT_BITS, int SALIENT_COUNT, int SCALE_MODE>
struct Linear {
    typedef Shape<ROWS, COLS, FLAGS, GROUPS, SALIENT_BITS, SALIENT_COUNT, SCALE_MODE> S;
    static constexpr bool FastPath = S::Folded && S::LanesPerBlock == 2;
    static constexpr int Rows = ROWS, RowsPerWarp = FastPath ? SAGEPTQ_SAGE_ROWS_PER_WARP : 1;
    static_assert(SAGEPTQ_SAGE_ROWS_PER_WARP >= 1 && SAGEPTQ_SAGE_ROWS_PER_WARP <= 8, "1 to 8 rows per warp");
    static constexpr int CodeBytes = (S::Blocks * 256 + 15) / 16 * 16;
    struct Staged {
        __align__(16) int8_t codes[CodeBytes];
        float scales[S::Blocks];
        float totals[4];
    };
#if SAGEPTQ_GPU
    static __device__ __forceinline__ void stage(const LinearArgs& args, int token, Staged& s) {
        const int8_t* tokenCodes = args.codes + (int64_t)token * COLS;
        for (int i = threadIdx.x; i < CodeBytes; i += SAGEPTQ_THREADS) s.codes[i] = i < COLS ? tokenCodes[i] : 0;
        for (int i = threadIdx.x; i < S::Blocks; i += SAGEPTQ_THREADS) s.scales[i] = args.scales[(int64_t)token * S::Blocks + i];
        if (threadIdx.x < 4) s.totals[threadIdx.x] = args.totals[4 * token + threadIdx.x];
    }
    static __device__ __forceinline__ float row(const LinearArgs& args, const Staged& s, int token, int row) {
        return warp_sum(row_partial<ROWS, COLS, FLAGS, GROUPS, SALIENT_BITS, SALIENT_COUNT, SCALE_MODE>(
            args, s.codes, s.scales, args.input + (int64_t)token * COLS, s.totals, row, threadIdx.x % 32));
    }
    /// Rows first .. first + R − 1 (y is 0 past ROWS). On the fast path the full blocks of all R rows go
    /// together, block by block, each row's float sum in row_partial's order, so every y has row()'s bits.
    template <int R>
    static __device__ __forceinline__ void rows(const LinearArgs& args, const Staged& s, int token, int first, float* y) {
        const uint8_t* signs = (const uint8_t*)at(args, S::Signs) + (int64_t)first * S::Stride;
        if (!FastPath || ((uint64_t)signs & 15) != 0) { rows_one_by_one<Linear, R>(args, s, token, first, y); return; }
        int lane = threadIdx.x % 32, sub = lane % 2;
        float blocks[R];
#pragma unroll
        for (int r = 0; r < R; r++) blocks[r] = 0;
        for (int b = lane / 2; b < S::FullBlocks; b += S::BlocksPerPass) {
            uint4 codes[8], words[R];
#pragma unroll
            for (int r = 0; r < R; r++)   // all R loads issued before the first is used
                if (first + r < ROWS) words[r] = load_streaming(signs + (int64_t)r * S::Stride + 32 * b + 16 * sub);
            load_plane_codes(s.codes + 256 * b, sub, codes);
#pragma unroll
            for (int r = 0; r < R; r++)
                if (first + r < ROWS) blocks[r] += s.scales[b] * (float)planes_dot(words[r], codes);
        }
        const float* input = args.input + (int64_t)token * COLS;
#pragma unroll
        for (int r = 0; r < R; r++)
            y[r] = first + r < ROWS
                ? warp_sum(row_partial_from<ROWS, COLS, FLAGS, GROUPS, SALIENT_BITS, SALIENT_COUNT, SCALE_MODE>(args, s.codes, s.scales, input, s.totals, first + r, lane, blocks[r]))
                : 0.0f;
    }
#endif
};

/// The kernel: Linear::RowsPerWarp rows per warp (strided over the grid), grid.y = token.
template <int ROWS, int COLS, int FLAGS, int GROUPS, int SALIENT_BITS, int SALIENT_COUNT, int SCALE_MODE>
__device__ __forceinline__ void gemv(const LinearArgs args) {
#if SAGEPTQ_GPU
    gemv_ctas<Linear<ROWS, COLS, FLAGS, GROUPS, SALIENT_BITS, SALIENT_COUNT, SCALE_MODE>>(args, blockIdx.x, gridDim.x);
#endif
}

/// The same kernel as the generator instantiates it for a Rotated linear: the manifest's parameters in ordinal
/// key order are flags, groups, rotate_seed_hi, rotate_seed_lo, salient_bits, salient_count, scale_mode. The
/// seed only matters to sage::prepare (the activation side), so the gemv ignores it.
template <int ROWS, int COLS, int FLAGS, int GROUPS, int ROTATE_SEED_HI, int ROTATE_SEED_LO, int SALIENT_BITS, int SALIENT_COUNT, int SCALE_MODE>
__device__ __forceinline__ void gemv(const LinearArgs args) {
    gemv<ROWS, COLS, FLAGS, GROUPS, SALIENT_BITS, SALIENT_COUNT, SCALE_MODE>(args);
}

}  // namespace sage

// ---------------------------------------------------------------------------------------------------
// uniform: b-bit codes (one LSB-first stream over the whole matrix), FP16 scale and b-bit zero per
// (row, group), optional act-order group index and FP16 reserved weights.
// ---------------------------------------------------------------------------------------------------
namespace uniform {

template <int ROWS, int COLS, int BITS, int GROUP_SIZE>
struct Shape {
    static constexpr int Groups = (COLS + GROUP_SIZE - 1) / GROUP_SIZE;
    static constexpr int Blocks = (COLS + 31) / 32;   // activation blocks of 32
};

/// Prepares one token (UniformCpuLinear.Prepare): int8 codes of x in 32-blocks, natural column order.
template <int ROWS, int COLS, int BITS, int GROUP_SIZE>
SAGEPTQ_HD void prepare(const float* x, int8_t* codes, float* scales, int32_t* sums) {
    for (int b = 0; b < Shape<ROWS, COLS, BITS, GROUP_SIZE>::Blocks; b++) {
        int start = b * 32, length = COLS - start < 32 ? COLS - start : 32;
        quantize_block(x + start, length, codes + start, scales + b, sums + b);
    }
}

/// The optional sections follow codes, scales, zeros: group_index (act order), then reserved_index and
/// reserved_value (both or neither). So 4 sections mean group_index alone, 5 the reserved pair, 6 all three.
SAGEPTQ_HD bool has_group_index(const LinearArgs& args) { return args.sections[3] != 0 && (args.sections[4] == 0 || args.sections[5] != 0); }

/// First reserved entry with flat index ≥ key (the indices ascend).
SAGEPTQ_HD int64_t lower_bound(const uint8_t* index, int64_t count, int64_t key) {
    int64_t low = 0, high = count;
    while (low < high) { int64_t mid = (low + high) / 2; if ((int64_t)read_u32(index + 4 * mid) < key) low = mid + 1; else high = mid; }
    return low;
}

/// One lane's share of y_row: lane l takes the 32-column activation blocks l, l + 32, ... and, inside a
/// block, runs of columns in one group: Σ_run s·d_b·(Σ code·q − z·Σ q), integer inside each run (one run per
/// block when GROUP_SIZE is a multiple of 32 and there is no act-order index). Then the reserved FP16
/// weights of the row (their code is the zero point, so their grid term is 0) against the float input.
template <int ROWS, int COLS, int BITS, int GROUP_SIZE>
SAGEPTQ_HD float row_partial(const LinearArgs& args, const int8_t* codes, const float* scales, const float* input, int row, int lane) {
    typedef Shape<ROWS, COLS, BITS, GROUP_SIZE> S;
    const uint8_t* stream = (const uint8_t*)args.sections[0];
    int64_t streamBytes = args.section_bytes[0], rowStart = (int64_t)row * COLS;
    const uint8_t* zeros = (const uint8_t*)args.sections[2];
    bool actOrder = has_group_index(args);
    const uint8_t* groupIndex = (const uint8_t*)args.sections[3];
    int indexWidth = S::Groups <= 65536 ? 2 : 4;
    float part = 0;
    for (int b = lane; b < S::Blocks; b += 32) {
        int start = 32 * b, end = start + 32 < COLS ? start + 32 : COLS;
        for (int j = start; j < end;) {
            int g = actOrder ? (indexWidth == 2 ? read_u16(groupIndex + 2 * j) : (int)read_u32(groupIndex + 4 * j)) : j / GROUP_SIZE;
            int dot = 0, sum = 0;
            for (; j < end; j++) {
                int gj = actOrder ? (indexWidth == 2 ? read_u16(groupIndex + 2 * j) : (int)read_u32(groupIndex + 4 * j)) : j / GROUP_SIZE;
                if (gj != g) break;
                int q = codes[j];
                dot += read_bits(stream, streamBytes, rowStart + j, BITS) * q;
                sum += q;
            }
            int64_t slot = (int64_t)row * S::Groups + g;
            int zero = read_bits(zeros, args.section_bytes[2], slot, BITS);
            part += read_half(args.sections[1], slot) * (scales[b] * (float)(dot - zero * sum));
        }
    }
    // The reserved pair sits after group_index when there is one. Selected by constant indexes: a run-time index
    // into the kernel's argument struct would make the GPU copy the whole struct to local memory.
    const uint8_t* index = (const uint8_t*)(actOrder ? args.sections[4] : args.sections[3]);
    if (index != 0) {
        const void* values = actOrder ? args.sections[5] : args.sections[4];
        int64_t count = (actOrder ? args.section_bytes[4] : args.section_bytes[3]) / 4;
        int64_t first = lower_bound(index, count, rowStart), last = lower_bound(index, count, rowStart + COLS);
        for (int64_t k = first + lane; k < last; k += 32)
            part += read_half(values, k) * input[(int64_t)read_u32(index + 4 * k) - rowStart];
    }
    return part;
}

/// The uniform gemv as a type (see gemv_ctas): the token's codes and block scales in shared memory.
template <int ROWS, int COLS, int BITS, int GROUP_SIZE>
struct Linear {
    typedef Shape<ROWS, COLS, BITS, GROUP_SIZE> S;
    static constexpr int Rows = ROWS, RowsPerWarp = 1;
    struct Staged {
        int8_t codes[S::Blocks * 32];
        float scales[S::Blocks];
    };
#if SAGEPTQ_GPU
    static __device__ __forceinline__ void stage(const LinearArgs& args, int token, Staged& s) {
        for (int i = threadIdx.x; i < S::Blocks * 32; i += SAGEPTQ_THREADS) s.codes[i] = i < COLS ? args.codes[(int64_t)token * COLS + i] : 0;
        for (int i = threadIdx.x; i < S::Blocks; i += SAGEPTQ_THREADS) s.scales[i] = args.scales[(int64_t)token * S::Blocks + i];
    }
    static __device__ __forceinline__ float row(const LinearArgs& args, const Staged& s, int token, int row) {
        return warp_sum(row_partial<ROWS, COLS, BITS, GROUP_SIZE>(args, s.codes, s.scales, args.input + (int64_t)token * COLS, row, threadIdx.x % 32));
    }
    template <int R>
    static __device__ __forceinline__ void rows(const LinearArgs& args, const Staged& s, int token, int first, float* y) {
        rows_one_by_one<Linear, R>(args, s, token, first, y);
    }
#endif
};

/// One warp per row, grid.y = token.
template <int ROWS, int COLS, int BITS, int GROUP_SIZE>
__device__ __forceinline__ void gemv(const LinearArgs args) {
#if SAGEPTQ_GPU
    gemv_ctas<Linear<ROWS, COLS, BITS, GROUP_SIZE>>(args, blockIdx.x, gridDim.x);
#endif
}

}  // namespace uniform

// ---------------------------------------------------------------------------------------------------
// f16: the unquantized reference layout, rows × cols binary16, against the float input.
// ---------------------------------------------------------------------------------------------------
namespace f16 {

/// When COLS is a multiple of 8 (rows of whole 16-byte chunks), lane l takes chunks l, l + 32, ... of 8
/// halves: one 16-byte load per lane, 512 contiguous bytes per warp pass. Otherwise lane l takes columns
/// l, l + 32, ... one half at a time.
template <int ROWS, int COLS>
SAGEPTQ_HD float row_partial(const LinearArgs& args, const float* input, int row, int lane) {
    const uint8_t* weights = (const uint8_t*)args.sections[0] + (int64_t)row * COLS * 2;
    float part = 0;
    if (COLS % 8 == 0) {
        for (int c = lane; c < COLS / 8; c += 32) {
            uint32_t w[4];
#if SAGEPTQ_GPU
            uint4 v = load_streaming(weights + 16 * c);
            w[0] = v.x; w[1] = v.y; w[2] = v.z; w[3] = v.w;
#else
            for (int k = 0; k < 4; k++) w[k] = read_u32(weights + 16 * c + 4 * k);
#endif
            const float* x = input + 8 * c;
            for (int k = 0; k < 4; k++)
                part += half_to_float((uint16_t)(w[k] & 0xFFFFu)) * x[2 * k] + half_to_float((uint16_t)(w[k] >> 16)) * x[2 * k + 1];
        }
    } else {
        for (int j = lane; j < COLS; j += 32) part += half_to_float(read_u16(weights + 2 * j)) * input[j];
    }
    return part;
}

/// The f16 gemv as a type (see gemv_ctas): the float input is read from global memory, nothing is staged.
template <int ROWS, int COLS>
struct Linear {
    static constexpr int Rows = ROWS, RowsPerWarp = 1;
    struct Staged {
        int unused;   // a member, so that every compiler gives the shared variable a size
    };
#if SAGEPTQ_GPU
    static __device__ __forceinline__ void stage(const LinearArgs&, int, Staged&) {}
    static __device__ __forceinline__ float row(const LinearArgs& args, const Staged&, int token, int row) {
        return warp_sum(row_partial<ROWS, COLS>(args, args.input + (int64_t)token * COLS, row, threadIdx.x % 32));
    }
    template <int R>
    static __device__ __forceinline__ void rows(const LinearArgs& args, const Staged& s, int token, int first, float* y) {
        rows_one_by_one<Linear, R>(args, s, token, first, y);
    }
#endif
};

template <int ROWS, int COLS>
__device__ __forceinline__ void gemv(const LinearArgs args) {
#if SAGEPTQ_GPU
    gemv_ctas<Linear<ROWS, COLS>>(args, blockIdx.x, gridDim.x);
#endif
}

}  // namespace f16

// ---------------------------------------------------------------------------------------------------
// Model-wide kernels: one CTA per token (norm, swiglu, residual), per head (attention).
// ---------------------------------------------------------------------------------------------------

/// One token on one thread (the host oracle of the kernel below).
template <int HIDDEN>
SAGEPTQ_HD void rms_norm_row(const float* x, const float* weight, float eps, float* h) {
    float squares = 0;
    for (int i = 0; i < HIDDEN; i++) squares += x[i] * x[i];
    float inverse = inverse_rms(squares, HIDDEN, eps);
    for (int i = 0; i < HIDDEN; i++) h[i] = x[i] * inverse * weight[i];
}

/// silu(g)·u = g / (1 + e^−g) · u.
SAGEPTQ_HD float swiglu(float g, float u) {
    return g / (1.0f + exponential(-g)) * u;
}

template <int HIDDEN>
__device__ __forceinline__ void rms_norm_quantize(const NormArgs args) {
#if SAGEPTQ_GPU
    __shared__ float shared[SAGEPTQ_WARPS];
    int token = blockIdx.x;
    const float* x = args.x + (int64_t)token * HIDDEN;
    float* h = args.h + (int64_t)token * HIDDEN;
    float inverse = cta_inverse_rms(x, HIDDEN, args.eps, shared);
    for (int i = threadIdx.x; i < HIDDEN; i += SAGEPTQ_THREADS) h[i] = x[i] * inverse * args.weight[i];
    if (args.codes) {
        __syncthreads();
        int blocks = (HIDDEN + args.block - 1) / args.block;
        quantize_rows_warp(h, HIDDEN, args.block, args.codes + (int64_t)token * HIDDEN, args.scales + (int64_t)token * blocks, args.sums + (int64_t)token * blocks);
    }
#endif
}

template <int INTERMEDIATE>
__device__ __forceinline__ void swiglu_quantize(const SwigluArgs args) {
#if SAGEPTQ_GPU
    int token = blockIdx.x;
    int64_t base = (int64_t)token * INTERMEDIATE;
    for (int i = threadIdx.x; i < INTERMEDIATE; i += SAGEPTQ_THREADS) args.out[base + i] = swiglu(args.gate[base + i], args.up[base + i]);
    if (args.codes) {
        __syncthreads();
        int blocks = (INTERMEDIATE + args.block - 1) / args.block;
        quantize_rows_warp(args.out + base, INTERMEDIATE, args.block, args.codes + base, args.scales + (int64_t)token * blocks, args.sums + (int64_t)token * blocks);
    }
#endif
}

/// Gate and up of an MLP in one launch, with the SwiGLU: a warp computes the same rows r of both and writes
/// silu(gate_r)·up_r to gate.output (up.output is not written): the float swiglu_quantize would make of the
/// two outputs, without them going through memory. G and U are Linear types (gemv_ctas); a warp takes the smaller
/// of their RowsPerWarp; grid as one gemv of that many rows per warp.
template <class G, class U>
__device__ __forceinline__ void gemv_swiglu(const LinearArgs& gate, const LinearArgs& up) {
    static_assert(G::Rows == U::Rows, "gate and up have the same rows");
#if SAGEPTQ_GPU
    constexpr int R = G::RowsPerWarp < U::RowsPerWarp ? G::RowsPerWarp : U::RowsPerWarp;   // rows a warp takes of both
    __shared__ typename G::Staged gateStaged;
    __shared__ typename U::Staged upStaged;
    int token = blockIdx.y;
    G::stage(gate, token, gateStaged);
    U::stage(up, token, upStaged);
    __syncthreads();
    for (int first = (blockIdx.x * SAGEPTQ_WARPS + threadIdx.x / 32) * R; first < G::Rows; first += gridDim.x * SAGEPTQ_WARPS * R) {
        float g[R], u[R];
        G::template rows<R>(gate, gateStaged, token, first, g);
        U::template rows<R>(up, upStaged, token, first, u);
        if (threadIdx.x % 32 == 0) {
#pragma unroll
            for (int r = 0; r < R; r++)
                if (first + r < G::Rows) gate.output[(int64_t)token * G::Rows + first + r] = swiglu(g[r], u[r]);
        }
    }
#endif
}

template <int HIDDEN>
__device__ __forceinline__ void add_residual(const ResidualArgs args) {
#if SAGEPTQ_GPU
    int64_t base = (int64_t)blockIdx.x * HIDDEN;
    for (int i = threadIdx.x; i < HIDDEN; i += SAGEPTQ_THREADS) args.x[base + i] += args.delta[base + i];
#endif
}

/// Rotates pair i of one head: (x1, x2) → (x1·cos − x2·sin, x2·cos + x1·sin) (RotaryEmbedding.Apply).
template <int HEAD_DIM>
SAGEPTQ_HD void rope_pair(float* head, const float* cos, const float* sin, int i) {
    float x1 = head[i], x2 = head[i + HEAD_DIM / 2];
    head[i] = x1 * cos[i] - x2 * sin[i];
    head[i + HEAD_DIM / 2] = x2 * cos[i] + x1 * sin[i];
}

/// Element e of the RoPE step (e over HEADS·HEAD_DIM/2 query pairs, then KV_HEADS·HEAD_DIM/2 key pairs, then
/// KV_HEADS·HEAD_DIM values): every element is independent, so the host loops e and the GPU spreads it.
template <int HEADS, int KV_HEADS, int HEAD_DIM>
SAGEPTQ_HD void rope_element(const RopeArgs& args, int e) {
    constexpr int Half = HEAD_DIM / 2, QueryPairs = HEADS * Half, KeyPairs = KV_HEADS * Half;
    const float* cos = args.cos_table + (int64_t)args.position * Half;
    const float* sin = args.sin_table + (int64_t)args.position * Half;
    if (e < QueryPairs) { rope_pair<HEAD_DIM>(args.q + (e / Half) * HEAD_DIM, cos, sin, e % Half); return; }
    e -= QueryPairs;
    if (e < KeyPairs) {
        int head = e / Half, i = e % Half;
        float* k = args.k + head * HEAD_DIM;
        rope_pair<HEAD_DIM>(k, cos, sin, i);
        uint16_t* cache = args.key_cache + ((int64_t)head * args.max_positions + args.position) * HEAD_DIM;
        cache[i] = float_to_half(k[i]);
        cache[i + Half] = float_to_half(k[i + Half]);
        return;
    }
    e -= KeyPairs;
    int head = e / HEAD_DIM, i = e % HEAD_DIM;
    args.value_cache[((int64_t)head * args.max_positions + args.position) * HEAD_DIM + i] = float_to_half(args.v[head * HEAD_DIM + i]);
}

template <int HEADS, int KV_HEADS, int HEAD_DIM>
__device__ __forceinline__ void rope_and_cache(const RopeArgs args) {
#if SAGEPTQ_GPU
    constexpr int Elements = (HEADS + KV_HEADS) * HEAD_DIM / 2 + KV_HEADS * HEAD_DIM;
    for (int e = blockIdx.x * SAGEPTQ_THREADS + threadIdx.x; e < Elements; e += gridDim.x * SAGEPTQ_THREADS)
        rope_element<HEADS, KV_HEADS, HEAD_DIM>(args, e);
#endif
}

/// q·k / √d for one head's query and one FP16 key (converted as read).
template <int HEAD_DIM>
SAGEPTQ_HD float scaled_dot(const float* q, const uint16_t* k) {
    float dot = 0;
    for (int i = 0; i < HEAD_DIM; i++) dot += q[i] * half_to_float(k[i]);
    return dot * (1.0f / square_root((float)HEAD_DIM));
}

/// q·k_p / √d for one head and cache position p.
template <int HEADS, int KV_HEADS, int HEAD_DIM>
SAGEPTQ_HD float attention_score(const AttentionArgs& args, int head, int p) {
    const uint16_t* k = args.key_cache + ((int64_t)(head / (HEADS / KV_HEADS)) * args.max_positions + p) * HEAD_DIM;
    return scaled_dot<HEAD_DIM>(args.q + head * HEAD_DIM, k);
}

/// One head on one thread (the host oracle of the kernel below): scores, softmax, Σ p·v.
template <int HEADS, int KV_HEADS, int HEAD_DIM>
SAGEPTQ_HD void attention_head(const AttentionArgs& args, int head) {
    float* scores = args.scores + (int64_t)head * args.max_positions;
    int visible = args.position + 1;
    float max = -3.402823466e38f, sum = 0;
    for (int p = 0; p < visible; p++) { scores[p] = attention_score<HEADS, KV_HEADS, HEAD_DIM>(args, head, p); max = scores[p] > max ? scores[p] : max; }
    for (int p = 0; p < visible; p++) {
        scores[p] = exponential(scores[p] - max);
        sum += scores[p];
    }
    const uint16_t* v = args.value_cache + (int64_t)(head / (HEADS / KV_HEADS)) * args.max_positions * HEAD_DIM;
    for (int i = 0; i < HEAD_DIM; i++) {
        float out = 0;
        for (int p = 0; p < visible; p++) out += scores[p] * half_to_float(v[(int64_t)p * HEAD_DIM + i]);
        args.output[head * HEAD_DIM + i] = out / sum;
    }
}

#if SAGEPTQ_GPU
/// One head's attention on the calling CTA: threads split the positions for the scores and the softmax sums,
/// then the head dimensions for Σ p·v (a simple decode kernel; split-K over positions is left for long
/// contexts). keys/values are the head's cache rows [max_positions][HEAD_DIM]; position `position` is read
/// from key_now/value_now, which are the cache's own rows unless the caller has them at hand.
template <int HEAD_DIM>
__device__ __forceinline__ void attend(const float* q, const uint16_t* keys, const uint16_t* values, const uint16_t* key_now,
                                       const uint16_t* value_now, int position, float* scores, float* output, float* shared) {
    int visible = position + 1;
    float max = -3.402823466e38f;
    for (int p = threadIdx.x; p < visible; p += SAGEPTQ_THREADS) {
        scores[p] = scaled_dot<HEAD_DIM>(q, p == position ? key_now : keys + (int64_t)p * HEAD_DIM);
        max = scores[p] > max ? scores[p] : max;
    }
    max = block_max(max, shared);
    float sum = 0;
    for (int p = threadIdx.x; p < visible; p += SAGEPTQ_THREADS) { scores[p] = exponential(scores[p] - max); sum += scores[p]; }
    sum = block_sum(sum, shared);
    __syncthreads();
    for (int i = threadIdx.x; i < HEAD_DIM; i += SAGEPTQ_THREADS) {
        float out = 0;
        for (int p = 0; p < position; p++) out += scores[p] * half_to_float(values[(int64_t)p * HEAD_DIM + i]);
        out += scores[position] * half_to_float(value_now[i]);
        output[i] = out / sum;
    }
}
#endif

/// One CTA per head (grid HEADS).
template <int HEADS, int KV_HEADS, int HEAD_DIM>
__device__ __forceinline__ void attention(const AttentionArgs args) {
#if SAGEPTQ_GPU
    __shared__ float shared[SAGEPTQ_WARPS];
    int head = blockIdx.x;
    int64_t rows = (int64_t)(head / (HEADS / KV_HEADS)) * args.max_positions * HEAD_DIM;
    const uint16_t* keys = args.key_cache + rows;
    const uint16_t* values = args.value_cache + rows;
    attend<HEAD_DIM>(args.q + head * HEAD_DIM, keys, values, keys + (int64_t)args.position * HEAD_DIM, values + (int64_t)args.position * HEAD_DIM,
                     args.position, args.scores + (int64_t)head * args.max_positions, args.output + head * HEAD_DIM, shared);
#endif
}

/// rope_and_cache and attention in one launch, one CTA per query head (grid HEADS; rope and args describe the same
/// layer and position). The CTA rotates its query head, and its key/value head's new key, with rope_pair's float
/// steps, and converts key and value to the cache's halves; every CTA of a key/value group makes the same halves
/// and the group's first writes them to the cache. Attention then takes this position from those halves, so no
/// CTA waits for another's write: the bits of the two kernels run one after the other. rope.q and rope.k are left
/// unrotated.
template <int HEADS, int KV_HEADS, int HEAD_DIM>
__device__ __forceinline__ void rope_attention(const RopeArgs rope, const AttentionArgs args) {
#if SAGEPTQ_GPU
    constexpr int Half = HEAD_DIM / 2, Group = HEADS / KV_HEADS;
    __shared__ float shared[SAGEPTQ_WARPS];
    __shared__ float q[HEAD_DIM], k[HEAD_DIM];
    __shared__ uint16_t key[HEAD_DIM], value[HEAD_DIM];
    int head = blockIdx.x, kv = head / Group;
    const float* cos = rope.cos_table + (int64_t)rope.position * Half;
    const float* sin = rope.sin_table + (int64_t)rope.position * Half;
    for (int i = threadIdx.x; i < HEAD_DIM; i += SAGEPTQ_THREADS) {
        q[i] = rope.q[head * HEAD_DIM + i];
        k[i] = rope.k[kv * HEAD_DIM + i];
        value[i] = float_to_half(rope.v[kv * HEAD_DIM + i]);
    }
    __syncthreads();
    for (int i = threadIdx.x; i < Half; i += SAGEPTQ_THREADS) {
        rope_pair<HEAD_DIM>(q, cos, sin, i);
        rope_pair<HEAD_DIM>(k, cos, sin, i);
        key[i] = float_to_half(k[i]);
        key[i + Half] = float_to_half(k[i + Half]);
    }
    __syncthreads();
    int64_t rows = (int64_t)kv * rope.max_positions * HEAD_DIM;
    if (head % Group == 0)
        for (int i = threadIdx.x; i < HEAD_DIM; i += SAGEPTQ_THREADS) {
            rope.key_cache[rows + (int64_t)rope.position * HEAD_DIM + i] = key[i];
            rope.value_cache[rows + (int64_t)rope.position * HEAD_DIM + i] = value[i];
        }
    attend<HEAD_DIM>(q, args.key_cache + rows, args.value_cache + rows, key, value, args.position,
                     args.scores + (int64_t)head * args.max_positions, args.output + head * HEAD_DIM, shared);
#endif
}

}  // namespace sageptq
