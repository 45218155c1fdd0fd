/*
 * Which operations hold the AVX-512 table kernel (SignLut.Dot32Avx512) back: a C copy of its inner step, two
 * tiles of eight blocks and their tables all in L1, timed with one kind of operation swapped out at a time.
 * docs/runtime.md ("Prompt batches a few tokens at a time") quotes it. Build and run each form:
 *
 *   for m in 0 1 2 3 4; do clang-14 -O3 -march=znver3 -mavx512f -mavx512bw -DMODE=$m tools/table-kernel-ops.c -o ops$m; ./ops$m; done
 *
 * MODE 0: the kernel's step as it is.  1: the 16 shuffles replaced by XORs.  2: the 8 vpmaddubsw widenings
 * replaced by 4 adds.  3: the nibbles read already split from memory instead of split in registers.
 * Only the time of modes 1-3 matters; their sums mean nothing. 4: an exact alternative widening, L and H' bytes
 * of a row side by side (vpunpcklbw, vpunpckhbw) and one vpmaddubsw by (1, 16) per half: rows 0-7 and 8-15
 * instead of even and odd rows, six operations a tile instead of eight (the runtime's AVX-512 kernel since).
 */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifndef MODE
#define MODE 0
#endif
#define BLOCKS 8 /* 2 tiles × 4 KB of signs and 16 KB of tables: L1 */

static uint8_t signs[2][BLOCKS * 512] __attribute__((aligned(64)));
static uint8_t nibbles[2][BLOCKS * 2048] __attribute__((aligned(64)));
static uint8_t tables[BLOCKS * 2048] __attribute__((aligned(64)));

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

static inline __m512i lookup(__m512i table, __m512i index)
{
#if MODE == 1
    return _mm512_xor_si512(table, index);
#else
    return _mm512_shuffle_epi8(table, index);
#endif
}

__attribute__((noinline)) static void run(__m512i *out)
{
    const __m512i nibble = _mm512_set1_epi8(15);
    __m512i total[4] = {0};
    for (int b = 0; b < BLOCKS; b++) {
        __m512i even[2] = {0}, odd[2] = {0};
        for (int j = 0; j < 16; j += 4) {
            /* The step's eight tables: L and H' of both nibbles for sign bytes j, j + 1 and j + 2, j + 3. */
            const uint8_t *t0 = tables + b * 2048 + 32 * j, *t1 = t0 + 64;
            __m512i l0 = _mm512_load_si512(t0), l1 = _mm512_load_si512(t0 + 512);
            __m512i l2 = _mm512_load_si512(t1), l3 = _mm512_load_si512(t1 + 512);
            __m512i h0 = _mm512_load_si512(t0 + 1024), h1 = _mm512_load_si512(t0 + 1536);
            __m512i h2 = _mm512_load_si512(t1 + 1024), h3 = _mm512_load_si512(t1 + 1536);
            for (int k = 0; k < 2; k++) {
#if MODE == 3
                const uint8_t *n = nibbles[k] + b * 2048 + 128 * j;
                __m512i lo0 = _mm512_load_si512(n), hi0 = _mm512_load_si512(n + 64);
                __m512i lo1 = _mm512_load_si512(n + 128), hi1 = _mm512_load_si512(n + 192);
#else
                const uint8_t *tile = signs[k] + b * 512;
                __m512i v0 = _mm512_load_si512(tile + 32 * j), v1 = _mm512_load_si512(tile + 32 * j + 64);
                __m512i lo0 = _mm512_and_si512(v0, nibble), hi0 = _mm512_and_si512(_mm512_srli_epi16(v0, 4), nibble);
                __m512i lo1 = _mm512_and_si512(v1, nibble), hi1 = _mm512_and_si512(_mm512_srli_epi16(v1, 4), nibble);
#endif
                __m512i low = _mm512_add_epi8(_mm512_add_epi8(lookup(l0, lo0), lookup(l1, hi0)), _mm512_add_epi8(lookup(l2, lo1), lookup(l3, hi1)));
                __m512i high = _mm512_add_epi8(_mm512_add_epi8(lookup(h0, lo0), lookup(h1, hi0)), _mm512_add_epi8(lookup(h2, lo1), lookup(h3, hi1)));
#if MODE == 2
                even[k] = _mm512_add_epi16(even[k], _mm512_add_epi16(low, high));
                odd[k] = _mm512_add_epi16(odd[k], _mm512_sub_epi16(low, high));
#elif MODE == 4
                even[k] = _mm512_add_epi16(even[k], _mm512_maddubs_epi16(_mm512_unpacklo_epi8(low, high), _mm512_set1_epi16(0x1001)));
                odd[k] = _mm512_add_epi16(odd[k], _mm512_maddubs_epi16(_mm512_unpackhi_epi8(low, high), _mm512_set1_epi16(0x1001)));
#else
                even[k] = _mm512_add_epi16(even[k], _mm512_add_epi16(_mm512_maddubs_epi16(low, _mm512_set1_epi16(0x0001)), _mm512_maddubs_epi16(high, _mm512_set1_epi16(0x0010))));
                odd[k] = _mm512_add_epi16(odd[k], _mm512_add_epi16(_mm512_maddubs_epi16(low, _mm512_set1_epi16(0x0100)), _mm512_maddubs_epi16(high, _mm512_set1_epi16(0x1000))));
#endif
            }
        }
        for (int k = 0; k < 2; k++) {
            total[2 * k] = _mm512_add_epi16(total[2 * k], even[k]);
            total[2 * k + 1] = _mm512_add_epi16(total[2 * k + 1], odd[k]);
        }
    }
    for (int i = 0; i < 4; i++) out[i] = _mm512_add_epi16(out[i], total[i]);
}

int main(void)
{
    for (int i = 0; i < BLOCKS * 512; i++) { signs[0][i] = rand(); signs[1][i] = rand(); }
    for (int i = 0; i < BLOCKS * 2048; i++) { nibbles[0][i] = rand() & 15; nibbles[1][i] = rand() & 15; tables[i] = rand() % 61; }
    __m512i out[4] = {0};
    const int calls = 400000;
    double best = 1e9;
    for (int round = 0; round < 5; round++) {
        double start = now();
        for (int i = 0; i < calls; i++) run(out);
        double seconds = now() - start;
        if (seconds < best) best = seconds;
    }
    /* A step: two tiles × 16 rows × 64 weights = 2,048 weights·row. */
    double steps = (double)calls * BLOCKS * 4;
    printf("MODE %d: %.2f ns per step of two tiles (2,048 weights·row), best of 5\n", MODE, best / steps * 1e9);
    volatile int sink = _mm512_reduce_add_epi32(out[0]);
    (void)sink;
    return 0;
}
