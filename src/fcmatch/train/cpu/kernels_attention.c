/* fcmatch's causal attention kernel for packed examples (fcmatch/train/attention.py's fast path), built with
 * kernels.c into one library by fcmatch/train/kernels.py. The tests check it against torch's sdpa per example. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_vector.h"

/* Causal attention within packed examples, head_dim 64, on vectors as wide as the target's registers
 * (kernels_vector.h). The register blocks below (rows x vectors of accumulators) are sized for 32 registers with
 * AVX-512 and for 16 otherwise. */
#if VW == 16  /* 32 registers: 8 query rows x 2 key vectors, 4 rows x all 64 columns, 8 rows x 64 columns */
enum { ABT_ROWS = 8, ABT_VECS = 2, PV_ROWS = 4, PV_VECS = 4, WTA_ROWS = 8, WTA_VECS = 4 };
#else         /* 16 registers: 8 accumulators per pass */
enum { ABT_ROWS = 4, ABT_VECS = 2, PV_ROWS = 4, PV_VECS = 2, WTA_ROWS = 4, WTA_VECS = 2 };
#endif
/* Softmax rows on whole vectors. Rows are short (a query block's keys, 8-208 here), and GCC compiled the earlier
 * `omp simd` reductions with libmvec's expf into loops that spilled their partial sums to the stack and reduced
 * them across lanes once per row and loop: about as much time as the two products. Here each row is padded to
 * whole 16-key blocks, the keys past the diagonal are set to -1e30 and come out of exp as exactly 0. */

/* exp(x) for x <= 0, lanewise: Cephes expf's reduction and polynomial (about 1 ulp), exactly 0 below -87. */
static inline vf exp_nonpositive(vf x) {
    vi under = x < splat(-87.0f);
    x = select_vf(under, splat(-87.0f), x);
    vi n = __builtin_convertvector(x * 1.44269504088896341f - 0.5f, vi);  /* round(x log2 e): x <= 0 */
    vf nf = __builtin_convertvector(n, vf);
    vf r = x - nf * 0.693359375f;
    r = r + nf * 2.12194440e-4f;
    vf y = splat(1.9875691500e-4f);
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * (r * r) + r + 1.0f;
    vf scale = (vf)((n + 127) << 23);
    return (vf)((vi)(y * scale) & ~under);
}

static inline float hmax(vf x) { float m = x[0]; for (int i = 1; i < VW; i++) m = x[i] > m ? x[i] : m; return m; }

/* Row[j] for j in [lim, width) set to -1e30 (width a multiple of VW): masked out of a softmax. */
static inline void mask_tail(float *row, int64_t lim, int64_t width) {
    int64_t j = lim / VW * VW;
    if (j < width && j < lim) {
        vi lane;
        for (int i = 0; i < VW; i++) lane[i] = (int32_t)(j + i < lim ? -1 : 0);
        STORE(row + j, select_vf(lane, LOAD(row + j), splat(-1e30f)));
        j += VW;
    }
    for (; j < width; j += VW) STORE(row + j, splat(-1e30f));
}

/* S[r][0..nk) = alpha * sum_d a[r][d] * bt[d][0..nk) for r < rows (<= 8), a rows with stride lda, bt (dim x ld)
 * packed, nk a multiple of 16 (bt padded with zeros). */
static void gemm_abt(float *S, int64_t lds, const float *a, int64_t lda, int rows, const float *bt, int64_t ld,
                     int64_t nk, int64_t dim, float alpha) {
    for (int r0 = 0; r0 < rows; r0 += ABT_ROWS) {
        const float *ar[ABT_ROWS];  /* rows past `rows` repeat row r0: no branch in the inner loop */
        for (int r = 0; r < ABT_ROWS; r++) ar[r] = a + (r0 + (r0 + r < rows ? r : 0)) * lda;
        int rr = rows - r0 < ABT_ROWS ? rows - r0 : ABT_ROWS;
        int64_t j = 0;
        for (; j + ABT_VECS * VW <= nk; j += ABT_VECS * VW) {  /* each broadcast of a[r][d] feeds ABT_VECS FMAs */
            vf acc[ABT_ROWS][ABT_VECS];
            for (int r = 0; r < ABT_ROWS; r++)
                for (int c = 0; c < ABT_VECS; c++) acc[r][c] = (vf){0};
            for (int64_t d = 0; d < dim; d++) {
                vf b[ABT_VECS];
                for (int c = 0; c < ABT_VECS; c++) b[c] = LOAD(bt + d * ld + j + c * VW);
                for (int r = 0; r < ABT_ROWS; r++) {
                    float x = ar[r][d];
                    for (int c = 0; c < ABT_VECS; c++) acc[r][c] += x * b[c];
                }
            }
            for (int r = 0; r < rr; r++)
                for (int c = 0; c < ABT_VECS; c++) STORE(S + (r0 + r) * lds + j + c * VW, acc[r][c] * alpha);
        }
        for (; j < nk; j += VW) {
            vf acc[ABT_ROWS];
            for (int r = 0; r < ABT_ROWS; r++) acc[r] = (vf){0};
            for (int64_t d = 0; d < dim; d++) {
                vf b = LOAD(bt + d * ld + j);
                for (int r = 0; r < ABT_ROWS; r++) acc[r] += ar[r][d] * b;
            }
            for (int r = 0; r < rr; r++) STORE(S + (r0 + r) * lds + j, acc[r] * alpha);
        }
    }
}

/* out[r][0..64) = sum_{j < nk} P[r][j] * v[j][0..64) for r < rows (<= 8), 64-wide rows of v with stride ldv. */
static void gemm_pv(float *out, int64_t ldo, const float *P, int64_t ldp, int rows, const float *v, int64_t ldv,
                    int64_t nk) {
    for (int r0 = 0; r0 < rows; r0 += PV_ROWS) {
        int rr = rows - r0 < PV_ROWS ? rows - r0 : PV_ROWS;
        const float *pr[PV_ROWS];  /* rows past `rr` repeat row r0: no branch in the inner loop */
        for (int r = 0; r < PV_ROWS; r++) pr[r] = P + (r0 + (r < rr ? r : 0)) * ldp;
        for (int c0 = 0; c0 < 64; c0 += PV_VECS * VW) {
            vf acc[PV_ROWS][PV_VECS];
            for (int r = 0; r < PV_ROWS; r++)
                for (int c = 0; c < PV_VECS; c++) acc[r][c] = (vf){0};
            for (int64_t j = 0; j < nk; j++) {
                const float *vj = v + j * ldv + c0;
                vf b[PV_VECS];
                for (int c = 0; c < PV_VECS; c++) b[c] = LOAD(vj + c * VW);
                for (int r = 0; r < PV_ROWS; r++) {
                    float p = pr[r][j];
                    for (int c = 0; c < PV_VECS; c++) acc[r][c] += p * b[c];
                }
            }
            for (int r = 0; r < rr; r++)
                for (int c = 0; c < PV_VECS; c++) STORE(out + (r0 + r) * ldo + c0 + c * VW, acc[r][c]);
        }
    }
}

/* Row length of the per-thread buffers: the longest example, rounded up to whole 16-key blocks. */
static int64_t padded_width(const int64_t *bounds, int64_t nseg) {
    int64_t maxn = 0;
    for (int64_t s = 0; s < nseg; s++) if (bounds[s + 1] - bounds[s] > maxn) maxn = bounds[s + 1] - bounds[s];
    return (maxn + 15) / 16 * 16;
}

/* The examples' indices, longest first: the tasks' costs grow as n^2 and one example can hold a third of a batch's
 * attention work, so the threads take the long ones first and even out on the short ones (schedule(dynamic) in
 * the packed order left the longest example's tasks, often the last, to one thread while the other waited). */
static int64_t *longest_first(const int64_t *bounds, int64_t nseg) {
    int64_t *order = malloc(sizeof(int64_t) * (nseg > 0 ? nseg : 1));
    for (int64_t s = 0; s < nseg; s++) {
        int64_t n = bounds[s + 1] - bounds[s], j = s;
        for (; j > 0 && bounds[order[j - 1] + 1] - bounds[order[j - 1]] < n; j--) order[j] = order[j - 1];
        order[j] = s;
    }
    return order;
}

/* dst[d][j] = src[j * stride + d] for d < 64, j < n, zero up to the next 16-key block: an example's keys (or
 * values) of one head transposed into a (64 x ld) buffer. */
static void pack_transposed(float *dst, int64_t ld, const float *src, int64_t stride, int64_t n) {
    int64_t padded = (n + 15) / 16 * 16;
    for (int64_t d = 0; d < 64; d++) {
        for (int64_t j = 0; j < n; j++) dst[d * ld + j] = src[j * stride + d];
        for (int64_t j = n; j < padded; j++) dst[d * ld + j] = 0.0f;
    }
}

/* Causal attention forward over packed examples, head_dim 64: q (T x H x 64), k and v (T x KV x 64), out
 * (T x H x 64), lse (H x T) per query row; bounds[0..nseg] the examples' starts (bounds[nseg] = T). */
void fc_attention(float *out, float *lse, const float *q, const float *k, const float *v, const int64_t *bounds,
                  int64_t nseg, int64_t T, int64_t H, int64_t KV, float scale, int nthreads) {
    const int64_t D = 64, group = H / KV, ld = padded_width(bounds, nseg);
    int64_t *order = longest_first(bounds, nseg);
    #pragma omp parallel num_threads(nthreads)
    {
        float *kt = aligned_alloc(64, sizeof(float) * D * ld);
        float *S = aligned_alloc(64, sizeof(float) * 8 * ld);
        #pragma omp for schedule(dynamic)
        for (int64_t task = 0; task < nseg * KV; task++) {
            int64_t seg = order[task / KV], g = task % KV, s = bounds[seg], n = bounds[seg + 1] - s;
            pack_transposed(kt, ld, k + (s * KV + g) * D, KV * D, n);
            for (int64_t h = g * group; h < (g + 1) * group; h++) {
                for (int64_t i0 = 0; i0 < n; i0 += 8) {
                    int rows = n - i0 < 8 ? (int)(n - i0) : 8;
                    int64_t nk = i0 + rows, nkp = (nk + 15) / 16 * 16;
                    gemm_abt(S, ld, q + ((s + i0) * H + h) * D, H * D, rows, kt, ld, nkp, D, scale);
                    for (int r = 0; r < rows; r++) {
                        float *Sr = S + r * ld;
                        mask_tail(Sr, i0 + r + 1, nkp);
                        vf vm = LOAD(Sr);
                        for (int64_t j = VW; j < nkp; j += VW) { vf x = LOAD(Sr + j); vm = select_vf(x > vm, x, vm); }
                        float m = hmax(vm);
                        vf vl = {0};
                        for (int64_t j = 0; j < nkp; j += VW) {
                            vf e = exp_nonpositive(LOAD(Sr + j) - m);
                            STORE(Sr + j, e);
                            vl += e;
                        }
                        float l = hsum(vl), inv = 1.0f / l;
                        for (int64_t j = 0; j < nkp; j += VW) STORE(Sr + j, LOAD(Sr + j) * inv);
                        lse[h * T + s + i0 + r] = m + logf(l);
                    }
                    gemm_pv(out + ((s + i0) * H + h) * D, H * D, S, ld, rows, v + (s * KV + g) * D, KV * D, nk);
                }
            }
        }
        free(kt); free(S);
    }
    free(order);
}

/* acc[j][0..64) += sum_{r < rows} W[r][j] * a[r][0..64) for j < nk: the transposed product that sums the rows of
 * a query block into key rows (dV += P^T dO, dK += dS^T Q); a rows with stride lda. */
static void gemm_wta(float *acc, const float *W, int64_t ldw, int rows, const float *a, int64_t lda, int64_t nk) {
    for (int r0 = 0; r0 < rows; r0 += WTA_ROWS) {
        int rr = rows - r0 < WTA_ROWS ? rows - r0 : WTA_ROWS;
        for (int c0 = 0; c0 < 64; c0 += WTA_VECS * VW) {
            vf ar[WTA_ROWS][WTA_VECS];
            for (int r = 0; r < WTA_ROWS; r++)
                for (int c = 0; c < WTA_VECS; c++)
                    ar[r][c] = r < rr ? LOAD(a + (r0 + r) * lda + c0 + c * VW) : (vf){0};
            for (int64_t j = 0; j < nk; j++) {
                float *out = acc + j * 64 + c0;
                vf o[WTA_VECS];
                for (int c = 0; c < WTA_VECS; c++) o[c] = LOAD(out + c * VW);
                for (int r = 0; r < rr; r++) {
                    float w = W[(r0 + r) * ldw + j];
                    for (int c = 0; c < WTA_VECS; c++) o[c] += w * ar[r][c];
                }
                for (int c = 0; c < WTA_VECS; c++) STORE(out + c * VW, o[c]);
            }
        }
    }
}

/* Backward of fc_attention: dq (T x H x 64), dk and dv (T x KV x 64) from dout (T x H x 64) and the forward's
 * q, k, v, out and lse. Probabilities are recomputed from lse, a query block of 8 rows at a time. */
void fc_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                           const float *v, const float *out, const float *lse, const int64_t *bounds, int64_t nseg,
                           int64_t T, int64_t H, int64_t KV, float scale, int nthreads) {
    const int64_t D = 64, group = H / KV, ld = padded_width(bounds, nseg);
    int64_t *order = longest_first(bounds, nseg);
    #pragma omp parallel num_threads(nthreads)
    {
        float *kt = aligned_alloc(64, sizeof(float) * D * ld), *vt = aligned_alloc(64, sizeof(float) * D * ld);
        float *P = aligned_alloc(64, sizeof(float) * 8 * ld), *dP = aligned_alloc(64, sizeof(float) * 8 * ld);
        float *dka = aligned_alloc(64, sizeof(float) * ld * D), *dva = aligned_alloc(64, sizeof(float) * ld * D);
        #pragma omp for schedule(dynamic)
        for (int64_t task = 0; task < nseg * KV; task++) {
            int64_t seg = order[task / KV], g = task % KV, s = bounds[seg], n = bounds[seg + 1] - s;
            const float *kg = k + (s * KV + g) * D, *vg = v + (s * KV + g) * D;
            pack_transposed(kt, ld, kg, KV * D, n);
            pack_transposed(vt, ld, vg, KV * D, n);
            memset(dka, 0, sizeof(float) * n * D);
            memset(dva, 0, sizeof(float) * n * D);
            for (int64_t h = g * group; h < (g + 1) * group; h++) {
                for (int64_t i0 = 0; i0 < n; i0 += 8) {
                    int rows = n - i0 < 8 ? (int)(n - i0) : 8;
                    int64_t nk = i0 + rows, nkp = (nk + 15) / 16 * 16;
                    const float *qb = q + ((s + i0) * H + h) * D, *gb = dout + ((s + i0) * H + h) * D;
                    const float *ob = out + ((s + i0) * H + h) * D;
                    gemm_abt(P, ld, qb, H * D, rows, kt, ld, nkp, D, scale);
                    gemm_abt(dP, ld, gb, H * D, rows, vt, ld, nkp, D, 1.0f);
                    for (int r = 0; r < rows; r++) {
                        float *Pr = P + r * ld, *dPr = dP + r * ld;
                        const float *gr = gb + r * H * D, *orow = ob + r * H * D;
                        vf vd = {0};
                        for (int64_t d = 0; d < D; d += VW) vd += LOAD(gr + d) * LOAD(orow + d);
                        float m = lse[h * T + s + i0 + r], di = hsum(vd);
                        mask_tail(Pr, i0 + r + 1, nkp);
                        for (int64_t j = 0; j < nkp; j += VW) {
                            vf p = exp_nonpositive(LOAD(Pr + j) - m);
                            STORE(Pr + j, p);
                            STORE(dPr + j, p * (LOAD(dPr + j) - di) * scale);
                        }
                    }
                    /* dq = dS K (dS already scaled), dv += P^T dO, dk += dS^T Q */
                    gemm_pv(dq + ((s + i0) * H + h) * D, H * D, dP, ld, rows, kg, KV * D, nk);
                    gemm_wta(dva, P, ld, rows, gb, H * D, nk);
                    gemm_wta(dka, dP, ld, rows, qb, H * D, nk);
                }
            }
            for (int64_t j = 0; j < n; j++) {
                memcpy(dk + ((s + j) * KV + g) * D, dka + j * D, sizeof(float) * D);
                memcpy(dv + ((s + j) * KV + g) * D, dva + j * D, sizeof(float) * D);
            }
        }
        free(kt); free(vt); free(P); free(dP); free(dka); free(dva);
    }
    free(order);
}
