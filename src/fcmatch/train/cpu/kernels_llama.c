/* fcmatch's CPU kernels for the frozen parts of a Llama layer that LoRA training runs through: the gated MLP's
 * product silu(gate) * up and its backward (with the down adapter's lora_A gradient), RMSNorm and the rotary
 * embedding, each one pass each way. Built into one library with kernels.c (see there) by
 * fcmatch/train/cpu/kernels.py.
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_vector.h"

/* hidden = silu(gate) * up, n elements. */
void fc_swiglu(float *hidden, const float *gate, const float *up, int64_t n, int nthreads) {
    #pragma omp parallel for simd num_threads(nthreads) schedule(static)
    for (int64_t k = 0; k < n; k++) {
        float g = gate[k];
        hidden[k] = g / (1.0f + expf(-g)) * up[k];
    }
}

/* Backward of silu(gate) * up for (rows x m) tensors, and lora_A's gradient of the down layer that reads the
 * product, in one pass. grad (the product's gradient) becomes the gate's gradient in place; grad_up receives up's.
 * With rank > 0, grad_a (rank x m) = scale * grad_low^T D(hidden), hidden = silu(gate) * up, D zeroing the sorted
 * flat positions pos (none when npos = 0), grad_low (rows x rank, row stride ld_low): the down adapter's lora_A
 * gradient. hidden is never written: each thread makes it for SWIGLU_ROWS rows by SWIGLU_COLS columns in L1 and
 * adds their products into its own (rank x m) sums, which the threads then add up. In a training step this was
 * about 20 ms per step faster than writing hidden, zeroing it and a (rank x rows) x (rows x m) product that read
 * it back from memory. */
enum { SWIGLU_ROWS = 8, SWIGLU_COLS = 128 };
#if defined(__AVX512F__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target("prefer-vector-width=512")))  /* 16 exponentials and FMAs per instruction rather than 8 */
#endif
void fc_swiglu_backward(float *grad, float *grad_up, float *grad_a, const float *gate, const float *up,
                        const float *grad_low, int64_t ld_low, int64_t rank, const int64_t *pos, int64_t npos,
                        int64_t rows, int64_t m, float scale, int nthreads) {
    float *sums = rank > 0 ? malloc(sizeof(float) * rank * m * nthreads) : NULL;
    #pragma omp parallel num_threads(nthreads)
    {
        int64_t nt = omp_get_num_threads(), id = omp_get_thread_num();
        int64_t t_start = rows * id / nt, t_stop = rows * (id + 1) / nt;
        float *acc = rank > 0 ? sums + id * rank * m : NULL;
        if (acc) memset(acc, 0, sizeof(float) * rank * m);
        float hb[SWIGLU_ROWS][SWIGLU_COLS] __attribute__((aligned(64)));
        float *w = rank > 0 ? malloc(sizeof(float) * SWIGLU_ROWS * rank) : NULL;  /* grad_low of the block, by column */
        int64_t next[SWIGLU_ROWS];
        for (int64_t t0 = t_start; t0 < t_stop; t0 += SWIGLU_ROWS) {
            int64_t nr = t_stop - t0 < SWIGLU_ROWS ? t_stop - t0 : SWIGLU_ROWS;
            for (int64_t r = 0; r < SWIGLU_ROWS; r++) {
                for (int64_t c = 0; c < rank; c++) w[c * SWIGLU_ROWS + r] = r < nr ? grad_low[(t0 + r) * ld_low + c] : 0.0f;
                next[r] = r < nr && npos ? lower_bound(pos, npos, (t0 + r) * m) : 0;
            }
            for (int64_t i0 = 0; i0 < m; i0 += SWIGLU_COLS) {
                int64_t len = m - i0 < SWIGLU_COLS ? m - i0 : SWIGLU_COLS;
                for (int64_t r = 0; r < SWIGLU_ROWS; r++) {
                    float *h = hb[r];
                    if (r >= nr) {  /* the last block's missing rows add nothing (their grad_low is zero too) */
                        memset(h, 0, sizeof(float) * SWIGLU_COLS);
                        continue;
                    }
                    int64_t base = (t0 + r) * m + i0;
                    float *d = grad + base, *gu = grad_up + base;
                    const float *gt = gate + base, *u = up + base;
                    #pragma omp simd
                    for (int64_t i = 0; i < len; i++) {
                        float g = gt[i], uu = u[i], dd = d[i];
                        float s = 1.0f / (1.0f + expf(-g));
                        float act = g * s;
                        h[i] = act * uu;
                        gu[i] = dd * act;
                        d[i] = dd * uu * (s * (1.0f + g * (1.0f - s)));
                    }
                    for (int64_t end = base + len; next[r] < npos && pos[next[r]] < end; next[r]++)
                        h[pos[next[r]] - base] = 0.0f;
                }
                for (int64_t c = 0; c < rank; c++) {
                    float *a = acc + c * m + i0;
                    const float *wc = w + c * SWIGLU_ROWS;
                    #pragma omp simd
                    for (int64_t i = 0; i < len; i++) {
                        float s = a[i];
                        #pragma GCC unroll 8
                        for (int r = 0; r < SWIGLU_ROWS; r++) s += wc[r] * hb[r][i];
                        a[i] = s;
                    }
                }
            }
        }
        free(w);
        if (rank > 0) {
            #pragma omp barrier
            int64_t total = rank * m, k0 = total * id / nt, k1 = total * (id + 1) / nt;
            for (int64_t k = k0; k < k1; k++) {
                float s = 0.0f;
                for (int64_t j = 0; j < nt; j++) s += sums[j * total + k];
                grad_a[k] = s * scale;
            }
        }
    }
    free(sums);
}

/* Llama RMSNorm forward: y = w * (x * rstd) per row of `dim` floats, rstd = 1/sqrt(mean(x^2) + eps);
 * keeps rstd (one float per row) for backward. */
void fc_rms_norm(float *y, float *rstd, const float *x, const float *w, int64_t rows, int64_t dim, float eps,
                 int nthreads) {
    #pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t t = 0; t < rows; t++) {
        const float *xr = x + t * dim;
        float *yr = y + t * dim;
        float ss = 0.0f;
        #pragma omp simd reduction(+:ss)
        for (int64_t j = 0; j < dim; j++) ss += xr[j] * xr[j];
        float rs = 1.0f / sqrtf(ss / (float)dim + eps);
        rstd[t] = rs;
        #pragma omp simd
        for (int64_t j = 0; j < dim; j++) yr[j] = w[j] * (xr[j] * rs);
    }
}

/* RMSNorm backward through x for a frozen weight: dx = rstd * (w*dy - x * rstd^2 * mean(w*dy*x)). */
void fc_rms_norm_backward(float *dx, const float *dy, const float *x, const float *w, const float *rstd, int64_t rows,
                          int64_t dim, int nthreads) {
    #pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t t = 0; t < rows; t++) {
        const float *xr = x + t * dim, *dr = dy + t * dim;
        float *out = dx + t * dim;
        float rs = rstd[t], dot = 0.0f;
        #pragma omp simd reduction(+:dot)
        for (int64_t j = 0; j < dim; j++) dot += w[j] * dr[j] * xr[j];
        float c = rs * rs * dot / (float)dim;
        #pragma omp simd
        for (int64_t j = 0; j < dim; j++) out[j] = rs * (w[j] * dr[j] - xr[j] * c);
    }
}

/* Llama's rotary embedding (the rotate_half convention) on rows of heads x dim floats, with cos and sin one row
 * of dim floats per row of x: out[j] = x[j] cos[j] - x[j + half] sin[j] for j < half, and
 * x[j] cos[j] + x[j - half] sin[j] above. backward != 0 applies the transpose, for the gradient:
 * out[j] = g[j] cos[j] + g[j + half] sin[j + half] for j < half, g[j] cos[j] - g[j - half] sin[j - half] above. */
void fc_rotary(float *out, const float *x, const float *cos, const float *sin, int64_t rows, int64_t heads,
               int64_t dim, int backward, int nthreads) {
    int64_t half = dim / 2;
    #pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int64_t t = 0; t < rows; t++) {
        const float *c = cos + t * dim, *s = sin + t * dim;
        for (int64_t h = 0; h < heads; h++) {
            const float *xr = x + (t * heads + h) * dim;
            float *o = out + (t * heads + h) * dim;
            /* both halves are read before either is written, so out may be x */
            if (backward) {
                #pragma omp simd
                for (int64_t j = 0; j < half; j++) {
                    float a = xr[j], b = xr[j + half];
                    o[j] = a * c[j] + b * s[j + half];
                    o[j + half] = b * c[j + half] - a * s[j];
                }
            } else {
                #pragma omp simd
                for (int64_t j = 0; j < half; j++) {
                    float a = xr[j], b = xr[j + half];
                    o[j] = a * c[j] - b * s[j];
                    o[j + half] = b * c[j + half] + a * s[j + half];
                }
            }
        }
    }
}
