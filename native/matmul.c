/*
 * Batched matrix products for small matrices, in WebAssembly SIMD, run in place on the tensors of
 * tfjs's wasm backend (this module imports that backend's memory; pointers are byte offsets in it).
 *
 *   c[q] = op(a[q]) · op(b[q])   for q in [0, batch)
 *
 * op(a) is M×K, stored [M, K] (ta = 0) or [K, M] (ta = 1); op(b) is K×N, stored [K, N] (tb = 0) or
 * [N, K] (tb = 1); c[q] is [M, N]. Batch q of a starts at a + q·a_stride elements (a_stride = 0
 * broadcasts one matrix to every batch), likewise b. With tb = 1 each b[q] is first transposed into
 * `scratch` (K·N + K floats, given by the caller).
 *
 * tfjs-wasm 4.22 runs a batched matMul (leading dimension above 1) by a scalar loop at about
 * 2 GFLOP/s, and a 2-D one through XNNPACK, which creates an operator and packs the right-hand
 * matrix on every call (about 30 µs for a 32×13·13×50 product). This kernel keeps a 4×8 tile of c
 * in eight SIMD registers and streams rows of b through it, with no packing and no allocation.
 *
 * Rules that let it share tfjs's memory: no data segments, no static variables and no shadow stack
 * (`scripts/build-wasm.mjs` checks the compiled module for all three).
 *
 * Build: node scripts/build-wasm.mjs (clang 14 or later with the wasm32 target, and wasm-ld).
 */
#include <wasm_simd128.h>

#define A_AT(i, k) (ta ? a[(k) * M + (i)] : a[(i) * K + (k)])
#define ZERO wasm_f32x4_splat(0)
/* A tile's accumulator starts at zero on the first block of k, else at what c holds. */
#define START(p) (first ? ZERO : wasm_v128_load(p))

/* Rows i0..i0+3, columns j0..j0+7, k in [k0, k1). */
static inline void tile4x8(const float *a, const float *b, float *c, int M, int K, int N, int ta, int i0,
                           int j0, int k0, int k1, int first) {
  float *r0 = c + i0 * N + j0, *r1 = r0 + N, *r2 = r1 + N, *r3 = r2 + N;
  v128_t c00 = START(r0), c01 = START(r0 + 4), c10 = START(r1), c11 = START(r1 + 4);
  v128_t c20 = START(r2), c21 = START(r2 + 4), c30 = START(r3), c31 = START(r3 + 4);
  const float *bk = b + k0 * N + j0;
  for (int k = k0; k < k1; k++, bk += N) {
    v128_t b0 = wasm_v128_load(bk), b1 = wasm_v128_load(bk + 4);
    v128_t a0 = wasm_f32x4_splat(A_AT(i0, k)), a1 = wasm_f32x4_splat(A_AT(i0 + 1, k));
    v128_t a2 = wasm_f32x4_splat(A_AT(i0 + 2, k)), a3 = wasm_f32x4_splat(A_AT(i0 + 3, k));
    c00 = wasm_f32x4_add(c00, wasm_f32x4_mul(a0, b0));
    c01 = wasm_f32x4_add(c01, wasm_f32x4_mul(a0, b1));
    c10 = wasm_f32x4_add(c10, wasm_f32x4_mul(a1, b0));
    c11 = wasm_f32x4_add(c11, wasm_f32x4_mul(a1, b1));
    c20 = wasm_f32x4_add(c20, wasm_f32x4_mul(a2, b0));
    c21 = wasm_f32x4_add(c21, wasm_f32x4_mul(a2, b1));
    c30 = wasm_f32x4_add(c30, wasm_f32x4_mul(a3, b0));
    c31 = wasm_f32x4_add(c31, wasm_f32x4_mul(a3, b1));
  }
  wasm_v128_store(r0, c00);
  wasm_v128_store(r0 + 4, c01);
  wasm_v128_store(r1, c10);
  wasm_v128_store(r1 + 4, c11);
  wasm_v128_store(r2, c20);
  wasm_v128_store(r2 + 4, c21);
  wasm_v128_store(r3, c30);
  wasm_v128_store(r3 + 4, c31);
}

/* Rows i0, i0+1, columns j0..j0+7, k in [k0, k1). */
static inline void tile2x8(const float *a, const float *b, float *c, int M, int K, int N, int ta, int i0,
                           int j0, int k0, int k1, int first) {
  float *r0 = c + i0 * N + j0, *r1 = r0 + N;
  v128_t c00 = START(r0), c01 = START(r0 + 4), c10 = START(r1), c11 = START(r1 + 4);
  const float *bk = b + k0 * N + j0;
  for (int k = k0; k < k1; k++, bk += N) {
    v128_t b0 = wasm_v128_load(bk), b1 = wasm_v128_load(bk + 4);
    v128_t a0 = wasm_f32x4_splat(A_AT(i0, k)), a1 = wasm_f32x4_splat(A_AT(i0 + 1, k));
    c00 = wasm_f32x4_add(c00, wasm_f32x4_mul(a0, b0));
    c01 = wasm_f32x4_add(c01, wasm_f32x4_mul(a0, b1));
    c10 = wasm_f32x4_add(c10, wasm_f32x4_mul(a1, b0));
    c11 = wasm_f32x4_add(c11, wasm_f32x4_mul(a1, b1));
  }
  wasm_v128_store(r0, c00);
  wasm_v128_store(r0 + 4, c01);
  wasm_v128_store(r1, c10);
  wasm_v128_store(r1 + 4, c11);
}

/* Row i, columns j0..j0+7, k in [k0, k1). */
static inline void tile1x8(const float *a, const float *b, float *c, int M, int K, int N, int ta, int i,
                           int j0, int k0, int k1, int first) {
  float *r = c + i * N + j0;
  v128_t c0 = START(r), c1 = START(r + 4);
  const float *bk = b + k0 * N + j0;
  for (int k = k0; k < k1; k++, bk += N) {
    v128_t ai = wasm_f32x4_splat(A_AT(i, k));
    c0 = wasm_f32x4_add(c0, wasm_f32x4_mul(ai, wasm_v128_load(bk)));
    c1 = wasm_f32x4_add(c1, wasm_f32x4_mul(ai, wasm_v128_load(bk + 4)));
  }
  wasm_v128_store(r, c0);
  wasm_v128_store(r + 4, c1);
}

/* Row i, columns j0..j0+3, k in [k0, k1). */
static inline void tile1x4(const float *a, const float *b, float *c, int M, int K, int N, int ta, int i,
                           int j0, int k0, int k1, int first) {
  float *r = c + i * N + j0;
  v128_t c0 = START(r);
  const float *bk = b + k0 * N + j0;
  for (int k = k0; k < k1; k++, bk += N)
    c0 = wasm_f32x4_add(c0, wasm_f32x4_mul(wasm_f32x4_splat(A_AT(i, k)), wasm_v128_load(bk)));
  wasm_v128_store(r, c0);
}

/*
 * The last N mod 4 columns (j0 ≤ j < N), all rows, all of k. Vectorized along k when rows of a are
 * contiguous (ta = 0: a dot product with the column, copied to `col`), along i otherwise.
 */
static void narrow_columns(const float *a, const float *b, float *c, float *col, int M, int K, int N,
                           int ta, int j0) {
  for (int j = j0; j < N; j++) {
    if (!ta) {
      for (int k = 0; k < K; k++) col[k] = b[k * N + j];
      for (int i = 0; i < M; i++) {
        const float *ai = a + i * K;
        v128_t acc = ZERO;
        int k = 0;
        for (; k + 4 <= K; k += 4)
          acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_v128_load(ai + k), wasm_v128_load(col + k)));
        float s = wasm_f32x4_extract_lane(acc, 0) + wasm_f32x4_extract_lane(acc, 1) +
                  wasm_f32x4_extract_lane(acc, 2) + wasm_f32x4_extract_lane(acc, 3);
        for (; k < K; k++) s += ai[k] * col[k];
        c[i * N + j] = s;
      }
    } else {
      int i = 0;
      for (; i + 4 <= M; i += 4) {
        v128_t acc = ZERO;
        for (int k = 0; k < K; k++)
          acc = wasm_f32x4_add(acc, wasm_f32x4_mul(wasm_v128_load(a + k * M + i), wasm_f32x4_splat(b[k * N + j])));
        c[i * N + j] = wasm_f32x4_extract_lane(acc, 0);
        c[(i + 1) * N + j] = wasm_f32x4_extract_lane(acc, 1);
        c[(i + 2) * N + j] = wasm_f32x4_extract_lane(acc, 2);
        c[(i + 3) * N + j] = wasm_f32x4_extract_lane(acc, 3);
      }
      for (; i < M; i++) {
        float s = 0;
        for (int k = 0; k < K; k++) s += a[k * M + i] * b[k * N + j];
        c[i * N + j] = s;
      }
    }
  }
}

/* Rows of b streamed through a tile at once: 256 rows of 8 columns stay in L1 between row tiles. */
#define K_BLOCK 256

/* One product c = op(a) · b with b stored [K, N]; `col` holds K floats of scratch. */
static void product(const float *a, const float *b, float *c, float *col, int M, int K, int N, int ta) {
  int wide = N & ~3;
  if (K == 0) {
    for (int i = 0; i < M * N; i++) c[i] = 0;
    return;
  }
  for (int k0 = 0; k0 < K; k0 += K_BLOCK) {
    int k1 = k0 + K_BLOCK < K ? k0 + K_BLOCK : K, first = k0 == 0;
    int j = 0;
    for (; j + 8 <= wide; j += 8) {
      int i = 0;
      for (; i + 4 <= M; i += 4) tile4x8(a, b, c, M, K, N, ta, i, j, k0, k1, first);
      if (i + 2 <= M) tile2x8(a, b, c, M, K, N, ta, i, j, k0, k1, first), i += 2;
      for (; i < M; i++) tile1x8(a, b, c, M, K, N, ta, i, j, k0, k1, first);
    }
    if (j < wide)
      for (int i = 0; i < M; i++) tile1x4(a, b, c, M, K, N, ta, i, j, k0, k1, first);
  }
  if (wide < N) narrow_columns(a, b, c, col, M, K, N, ta, wide);
}

/* dst [K, N] = transpose of src [N, K]. */
static void transpose(const float *src, float *dst, int N, int K) {
  for (int j = 0; j < N; j++)
    for (int k = 0; k < K; k++) dst[k * N + j] = src[j * K + k];
}

/*
 * `scratch` holds b[q] transposed (K·N floats, tb = 1 only), then one column of b (K floats, used when
 * ta = 0 and N is not a multiple of 4).
 */
__attribute__((export_name("batch_matmul"))) void batch_matmul(const float *a, const float *b, float *c,
                                                                  float *scratch, int batch, int M, int K,
                                                                  int N, int ta, int tb, int a_stride,
                                                                  int b_stride) {
  float *col = tb ? scratch + K * N : scratch;
  for (int q = 0; q < batch; q++) {
    const float *aq = a + q * a_stride;
    const float *bq = b + q * b_stride;
    if (tb) {
      // A broadcast b is transposed once.
      if (q == 0 || b_stride != 0) transpose(bq, scratch, N, K);
      bq = scratch;
    }
    product(aq, bq, c + q * M * N, col, M, K, N, ta);
  }
}
