/* What fcmatch's kernels (kernels.c, kernels_llama.c, kernels_attention.c) share. Their vectors: GCC/Clang vector
 * extensions as wide as the target's registers, 16 floats with AVX-512, 8 with AVX, 4 otherwise. A vector wider than
 * the registers (16 floats on AVX2) makes GCC spill every operation to the stack, which ran the attention products
 * about 17x slower. */
#ifndef FCMATCH_KERNELS_VECTOR_H
#define FCMATCH_KERNELS_VECTOR_H
#include <math.h>
#include <stdint.h>

/* glibc's vector expf and log (libmvec, linked by kernels.py) for the `omp simd` loops that call them. glibc's
 * math.h declares them so only under -ffast-math, which these kernels are no longer built with; libmvec's
 * functions handle infinities and NaN as the scalar ones do. Elsewhere (-DFC_NO_MVEC) the loops call the
 * scalar functions. */
#if defined(__x86_64__) && defined(__GLIBC__) && !defined(__FAST_MATH__) && !defined(FC_NO_MVEC)
#pragma omp declare simd notinbranch
float expf(float);
#pragma omp declare simd notinbranch
double log(double);
#endif

#if defined(__AVX512F__)
#define VW 16
#define VREGS 32
#elif defined(__AVX__)
#define VW 8
#define VREGS 16
#else
#define VW 4
#define VREGS 16
#endif
typedef float vf __attribute__((vector_size(VW * 4), aligned(4)));
typedef int32_t vi __attribute__((vector_size(VW * 4)));
#define LOAD(p) (*(const vf *)(p))
#define STORE(p, x) (*(vf *)(p) = (x))

static inline vf splat(float x) { return (vf){0} + x; }
static inline vf select_vf(vi mask, vf a, vf b) { return (vf)(((vi)a & mask) | ((vi)b & ~mask)); }
static inline float hsum(vf x) { float s = 0.0f; for (int i = 0; i < VW; i++) s += x[i]; return s; }

/* First index in sorted pos[0..n) whose value is >= key (dropout positions: kernels.c, kernels_llama.c). */
static inline int64_t lower_bound(const int64_t *pos, int64_t n, int64_t key) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (pos[mid] < key) lo = mid + 1; else hi = mid;
    }
    return lo;
}
#endif
