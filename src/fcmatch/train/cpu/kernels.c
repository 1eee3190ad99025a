/* fcmatch's CPU kernels for LoRA training: fused elementwise passes that eager PyTorch runs as several. This file:
 * dropout positions and their corrections, and the LoRA low-rank gradients; kernels_llama.c: the gated MLP, RMSNorm
 * and rotary; kernels_attention.c: causal attention within packed examples (all built into one library).
 *
 * Built on first use by fcmatch/train/cpu/kernels.py (cc -O3 -march=native -fopenmp -shared), loaded with ctypes
 * and called on contiguous fp32 tensors. Every function has an eager PyTorch twin (fastlora.py; attention runs
 * torch's sdpa per example on the plain path), and the tests check each against it. OpenMP here resolves to the
 * libgomp torch has already loaded, so these loops share torch's thread pool.
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_vector.h"

/* xoshiro256** (Blackman and Vigna; drop_segment runs it on 8 lanes), seeded by splitmix64 from one 64-bit seed. */
static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Dropout positions: the sorted flat indices in [start, start + n) of an i.i.d. Bernoulli(p) sequence, drawn as
 * geometric gaps G = floor(log(U) / log(1-p)) + 1 with U uniform on (0, 1] (53 bits), P(G > k) = (1-p)^k. The
 * uniforms come from 8 xoshiro256** streams side by side (lane l gives every 8th uniform), seeded in turn by
 * splitmix64 from `seed`: the loop over lanes compiles to vector instructions, where one stream's steps depend
 * on each other. Integer arithmetic, so the stream is the same for every vector width. Writes at most cap
 * positions to out and returns how many it wrote; returns -1 if cap was too small. */
enum { DROP_LANES = 8, DROP_BATCH = 256 };
#if defined(__AVX512F__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target("prefer-vector-width=512")))  /* 8 logarithms per instruction rather than 4 */
#endif
static int64_t drop_segment(int64_t *out, int64_t cap, int64_t start, int64_t n, double log_keep, uint64_t seed) {
    uint64_t s0[DROP_LANES], s1[DROP_LANES], s2[DROP_LANES], s3[DROP_LANES], mix = seed;
    for (int l = 0; l < DROP_LANES; l++) {
        s0[l] = splitmix64(&mix); s1[l] = splitmix64(&mix); s2[l] = splitmix64(&mix); s3[l] = splitmix64(&mix);
    }
    double u[DROP_BATCH];
    int64_t count = 0, last = start - 1;
    while (1) {
        for (int j = 0; j < DROP_BATCH; j += DROP_LANES) {
            #pragma omp simd
            for (int l = 0; l < DROP_LANES; l++) {
                uint64_t x = s1[l] * 5, t = s1[l] << 17;
                uint64_t r = ((x << 7) | (x >> 57)) * 9;
                s2[l] ^= s0[l]; s3[l] ^= s1[l]; s1[l] ^= s2[l]; s0[l] ^= s3[l]; s2[l] ^= t;
                s3[l] = (s3[l] << 45) | (s3[l] >> 19);
                u[j + l] = (double)(int64_t)((r >> 11) + 1) * 0x1.0p-53;
            }
        }
        #pragma omp simd
        for (int j = 0; j < DROP_BATCH; j++) u[j] = floor(log(u[j]) / log_keep);
        for (int j = 0; j < DROP_BATCH; j++) {
            last += (int64_t)u[j] + 1;
            if (last >= start + n) return count;
            if (count == cap) return -1;
            out[count++] = last;
        }
    }
}

/* The positions in [0, n), in ceil(n / segment) segments of equal length (to one element) drawn independently and
 * in parallel (the union of independent Bernoulli(p) sequences over disjoint ranges is one). Segment k > 0 seeds
 * its stream with seed ^ (k * an odd constant) through splitmix64, so the result depends on the seed only, not on
 * the threads; a single segment is the stream of `seed` itself. Segment k writes into its share of out,
 * proportional to its length, and the shares are then closed up. Returns the count, or -1 if a share was too
 * small. Equal lengths give every segment the same slack in cap: with whole segments and a short last one, that
 * one's share was about a standard deviation above its mean, and 7% of the draws of a (1,198 x 1,536) input
 * failed and were drawn again. */
int64_t fc_drop_positions(int64_t *out, int64_t cap, int64_t n, double log_keep, uint64_t seed, int64_t segment,
                          int nthreads) {
    int64_t nseg = (n + segment - 1) / segment;
    if (nseg <= 1) return drop_segment(out, cap, 0, n, log_keep, seed);
    int64_t *counts = malloc(sizeof(int64_t) * nseg);
    #pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t k = 0; k < nseg; k++) {
        int64_t start = n * k / nseg, len = n * (k + 1) / nseg - start;
        int64_t first = (int64_t)((double)cap * start / n), share = (int64_t)((double)cap * (start + len) / n) - first;
        counts[k] = drop_segment(out + first, share, start, len, log_keep, seed ^ ((uint64_t)k * 0xd1b54a32d192ed03ULL));
    }
    int64_t total = 0;
    for (int64_t k = 0; k < nseg; k++) {
        if (counts[k] < 0) { total = -1; break; }
        int64_t first = (int64_t)((double)cap * (n * k / nseg) / n);
        memmove(out + total, out + first, sizeof(int64_t) * counts[k]);
        total += counts[k];
    }
    free(counts);
    return total;
}

/* Dropout with known positions in one pass: out = x * scale with the sorted flat positions zeroed, n elements.
 * Each thread takes a contiguous range and zeroes its positions block by block, while the block is in cache. */
void fc_dropped(float *out, const float *x, const int64_t *pos, int64_t npos, int64_t n, float scale, int nthreads) {
    #pragma omp parallel num_threads(nthreads)
    {
        int64_t nt = omp_get_num_threads(), id = omp_get_thread_num();
        int64_t start = n * id / nt, stop = n * (id + 1) / nt;
        int64_t k = lower_bound(pos, npos, start);
        for (int64_t block = start; block < stop; block += 4096) {
            int64_t end = block + 4096 < stop ? block + 4096 : stop;
            #pragma omp simd
            for (int64_t j = block; j < end; j++) out[j] = x[j] * scale;
            for (; k < npos && pos[k] < end; k++) out[pos[k]] = 0.0f;
        }
    }
}

/* Zero the dropped flat positions of a (rows x in) tensor. */
void fc_zero_positions(float *x, const int64_t *pos, int64_t npos, int nthreads) {
    #pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t k = 0; k < npos; k++) x[pos[k]] = 0.0f;
}

/* Dropout of several LoRA adapters that read the same (rows x in) input x, as a sparse correction after the
 * products with x itself. The adapters' A matrices are stacked into a (blocks * rank) x in matrix a, and the
 * dropped positions of adapter j are the sorted flat indices pos in [j * rows * in, (j + 1) * rows * in). With
 * D_j(x) = x with adapter j's positions zeroed (the 1/(1-p) scaling is left to the caller):
 *   fc_lora_drop_low:    low[t][j*rank + c] -= x[t][i] a[j*rank + c][i]           (low = x a^T -> D_j(x) A_j^T)
 *   fc_lora_drop_back:   back[t][i] -= sum_c grad_low[t][j*rank + c] a[j*rank + c][i]
 *                                                               (back = grad_low a -> sum_j D_j(grad_low_j A_j))
 *   fc_lora_drop_grad_a: grad_a[j*rank + c][i] -= grad_low[t][j*rank + c] x[t][i]  (grad_low^T x -> grad_low_j^T D_j(x))
 * for every dropped (t, i) of adapter j. At p = 0.05 that is 5% of the dense products' work, and no dropped
 * copy of x is ever written. Threads take contiguous row ranges (their positions found by binary search per
 * adapter), so low and back need no locks; grad_a's columns are shared, so each thread sums into its own
 * transposed buffer first. */
static float *transposed(const float *a, int64_t rows, int64_t cols) {
    float *at = malloc(sizeof(float) * rows * cols);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) at[c * rows + r] = a[r * cols + c];
    return at;
}

/* Runs BODY for every dropped (t, i) of adapter j in this thread's rows [t0, t1), row by row so that row t of
 * the input stays in cache for all the adapters; e = t * in + i. */
#define FOR_DROPPED(...)                                                                                  \
    int64_t *next = malloc(sizeof(int64_t) * 2 * blocks), *stop = next + blocks;                          \
    for (int64_t j = 0; j < blocks; j++) {                                                                 \
        next[j] = lower_bound(pos, npos, j * n + t0 * in);                                                 \
        stop[j] = lower_bound(pos, npos, j * n + t1 * in);                                                 \
    }                                                                                                      \
    for (int64_t t = t0; t < t1; t++)                                                                      \
        for (int64_t j = 0; j < blocks; j++)                                                               \
            for (int64_t end = j * n + (t + 1) * in; next[j] < stop[j] && pos[next[j]] < end; next[j]++) { \
                int64_t e = pos[next[j]] - j * n, i = e - t * in;                                          \
                (void)i;                                                                                   \
                __VA_ARGS__                                                                                \
            }                                                                                              \
    free(next);

#define THREAD_ROWS                                                                                        \
    int64_t nt = omp_get_num_threads(), id = omp_get_thread_num();                                         \
    int64_t t0 = rows * id / nt, t1 = rows * (id + 1) / nt;

/* fc_lora_drop_low for a rank of nv vectors: each (t, j) sums its dropped terms in registers, in two sums taken in
 * turn, and updates its row of low once. Updating low in memory for every position chains a load and a store
 * through one address, about 9 cycles per position. */
static inline __attribute__((always_inline)) void drop_low_rows(float *low, const float *x, const float *at,
        const int64_t *pos, int64_t npos, int64_t t0, int64_t t1, int64_t in, int64_t n, int64_t blocks, int64_t rank,
        const int nv) {
    int64_t width = blocks * rank;
    for (int64_t j = 0; j < blocks; j++) {
        int64_t k = lower_bound(pos, npos, j * n + t0 * in), stop = lower_bound(pos, npos, j * n + t1 * in);
        const float *aj = at + j * rank;
        for (int64_t t = t0; t < t1 && k < stop; t++) {
            int64_t base = j * n + t * in, end = base + in;
            const float *xr = x + t * in;
            vf s0[4], s1[4];
            for (int c = 0; c < nv; c++) s0[c] = s1[c] = (vf){0};
            for (; k + 1 < stop && pos[k + 1] < end; k += 2) {
                int64_t i0 = pos[k] - base, i1 = pos[k + 1] - base;
                float x0 = xr[i0], x1 = xr[i1];
                for (int c = 0; c < nv; c++) {
                    s0[c] += x0 * LOAD(aj + i0 * width + c * VW);
                    s1[c] += x1 * LOAD(aj + i1 * width + c * VW);
                }
            }
            if (k < stop && pos[k] < end) {
                int64_t i0 = pos[k++] - base;
                for (int c = 0; c < nv; c++) s0[c] += xr[i0] * LOAD(aj + i0 * width + c * VW);
            }
            float *out = low + t * width + j * rank;
            for (int c = 0; c < nv; c++) STORE(out + c * VW, LOAD(out + c * VW) - (s0[c] + s1[c]));
        }
    }
}

void fc_lora_drop_low(float *low, const float *x, const float *a, const int64_t *pos, int64_t npos, int64_t rows,
                      int64_t in, int64_t blocks, int64_t rank, int nthreads) {
    int64_t width = blocks * rank, n = rows * in;
    float *at = transposed(a, width, in);
    #pragma omp parallel num_threads(nthreads)
    {
        THREAD_ROWS
        if (rank == VW) drop_low_rows(low, x, at, pos, npos, t0, t1, in, n, blocks, rank, 1);
        else if (rank == 2 * VW) drop_low_rows(low, x, at, pos, npos, t0, t1, in, n, blocks, rank, 2);
        else if (rank == 4 * VW) drop_low_rows(low, x, at, pos, npos, t0, t1, in, n, blocks, rank, 4);
        else {  /* other ranks: one position at a time */
            FOR_DROPPED({
                float xv = x[e], *out = low + t * width + j * rank;
                const float *ar = at + i * width + j * rank;
                _Pragma("omp simd")
                for (int64_t c = 0; c < rank; c++) out[c] -= xv * ar[c];
            })
        }
    }
    free(at);
}

void fc_lora_drop_back(float *back, const float *grad_low, const float *a, const int64_t *pos, int64_t npos,
                       int64_t rows, int64_t in, int64_t blocks, int64_t rank, int nthreads) {
    int64_t width = blocks * rank, n = rows * in;
    float *at = transposed(a, width, in);
    #pragma omp parallel num_threads(nthreads)
    {
        THREAD_ROWS
        FOR_DROPPED({
            const float *g = grad_low + t * width + j * rank, *ar = at + i * width + j * rank;
            float dot = 0.0f;
            _Pragma("omp simd reduction(+:dot)")
            for (int64_t c = 0; c < rank; c++) dot += g[c] * ar[c];
            back[e] -= dot;
        })
    }
    free(at);
}

void fc_lora_drop_grad_a(float *grad_a, const float *grad_low, const float *x, const int64_t *pos, int64_t npos,
                         int64_t rows, int64_t in, int64_t blocks, int64_t rank, int nthreads) {
    int64_t width = blocks * rank, n = rows * in;
    #pragma omp parallel num_threads(nthreads)
    {
        THREAD_ROWS
        float *acc = calloc(in * width, sizeof(float));
        FOR_DROPPED({
            float xv = x[e], *out = acc + i * width + j * rank;
            const float *g = grad_low + t * width + j * rank;
            _Pragma("omp simd")
            for (int64_t c = 0; c < rank; c++) out[c] += g[c] * xv;
        })
        #pragma omp critical
        for (int64_t i = 0; i < in; i++)
            for (int64_t c = 0; c < width; c++) grad_a[c * in + i] -= acc[i * width + c];
        free(acc);
    }
}

/* A LoRA layer's two low-rank gradients in one pass over its (rows x out) output gradient g, instead of two thin
 * products that each read g (about 150 GFLOP/s in MKL at rank 16 on 2 threads):
 *   grad_low[t] = scaling * g[t] B          (rows x rank, row stride ldl: a slice of the grouped adapters' buffer)
 *   grad_b      = scaling * g^T low         (out x rank: B's own layout; low's rows have stride ldw)
 * Threads take contiguous row ranges and sum g^T low into their own (out x rank) buffers, added at the end. For a
 * block of rb rows the rank-wide rows of grad_low and low stay in registers while o runs over out: each g[t][o]
 * is read once and feeds 2 * rank / VW FMAs. The rank is nv vectors; rb is as large as the registers allow. */
static inline __attribute__((always_inline)) void low_grads_block(
        float *grad_low, int64_t ldl, float *acc, const float *g, const float *b, const float *low, int64_t ldw,
        int64_t t, int64_t out, float scaling, const int nv, const int rb) {
    vf sum[8][4], lw[8][4];
    for (int i = 0; i < rb; i++)
        for (int c = 0; c < nv; c++) { sum[i][c] = (vf){0}; lw[i][c] = LOAD(low + (t + i) * ldw + c * VW); }
    const float *gt = g + t * out;
    for (int64_t o = 0; o < out; o++) {
        vf bo[4], ao[4];
        for (int c = 0; c < nv; c++) { bo[c] = LOAD(b + (o * nv + c) * VW); ao[c] = LOAD(acc + (o * nv + c) * VW); }
        for (int i = 0; i < rb; i++) {
            float x = gt[i * out + o];
            for (int c = 0; c < nv; c++) { sum[i][c] += x * bo[c]; ao[c] += x * lw[i][c]; }
        }
        for (int c = 0; c < nv; c++) STORE(acc + (o * nv + c) * VW, ao[c]);
    }
    for (int i = 0; i < rb; i++)
        for (int c = 0; c < nv; c++) STORE(grad_low + (t + i) * ldl + c * VW, sum[i][c] * scaling);
}

static inline __attribute__((always_inline)) void low_grads_rows(
        float *grad_low, int64_t ldl, float *acc, const float *g, const float *b, const float *low, int64_t ldw,
        int64_t t0, int64_t t1, int64_t out, float scaling, const int nv, const int rb) {
    int64_t t = t0;
    for (; t + rb <= t1; t += rb) low_grads_block(grad_low, ldl, acc, g, b, low, ldw, t, out, scaling, nv, rb);
    for (; t < t1; t++) low_grads_block(grad_low, ldl, acc, g, b, low, ldw, t, out, scaling, nv, 1);
}

#if VREGS == 32
#define LOW_GRADS_ROWS(nv) ((nv) == 1 ? 8 : (nv) == 2 ? 4 : 2)
#else
#define LOW_GRADS_ROWS(nv) ((nv) == 1 ? 4 : (nv) == 2 ? 2 : 1)
#endif

/* The vector width the library was built for: fc_lora_low_grads takes ranks of 1, 2 or 4 vectors. */
int fc_vector_width(void) { return VW; }

/* The widest instruction set the compiler was allowed (recorded in a run's manifest). */
const char *fc_isa(void) {
#if defined(__AVX512F__)
    return "avx512f";
#elif defined(__AVX2__)
    return "avx2";
#elif defined(__AVX__)
    return "avx";
#elif defined(__SSE2__)
    return "sse2";
#elif defined(__ARM_NEON)
    return "neon";
#else
    return "generic";
#endif
}

void fc_lora_low_grads(float *grad_low, int64_t ldl, float *grad_b, const float *g, const float *b, const float *low,
                       int64_t ldw, int64_t rows, int64_t out, int64_t rank, float scaling, int nthreads) {
    int64_t size = out * rank;
    float *part = malloc(sizeof(float) * size * nthreads);
    #pragma omp parallel num_threads(nthreads)
    {
        int64_t nt = omp_get_num_threads(), id = omp_get_thread_num();
        int64_t t0 = rows * id / nt, t1 = rows * (id + 1) / nt;
        float *acc = part + size * id;
        memset(acc, 0, sizeof(float) * size);
        if (rank == VW) low_grads_rows(grad_low, ldl, acc, g, b, low, ldw, t0, t1, out, scaling, 1, LOW_GRADS_ROWS(1));
        else if (rank == 2 * VW) low_grads_rows(grad_low, ldl, acc, g, b, low, ldw, t0, t1, out, scaling, 2, LOW_GRADS_ROWS(2));
        else if (rank == 4 * VW) low_grads_rows(grad_low, ldl, acc, g, b, low, ldw, t0, t1, out, scaling, 4, LOW_GRADS_ROWS(4));
        #pragma omp barrier
        #pragma omp for schedule(static)
        for (int64_t e = 0; e < size; e++) {
            float total = 0.0f;
            for (int64_t k = 0; k < nt; k++) total += part[k * size + e];
            grad_b[e] = total * scaling;
        }
    }
    free(part);
}
