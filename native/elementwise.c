/*
 * Fused elementwise updates for bdk's optimizers and samplers, in WebAssembly SIMD, run in place on
 * tensors of tfjs's wasm backend (see matmul.c for the memory rules). Each computes, in one pass over
 * memory, exactly what a chain of tfjs float32 kernels computes (same operations, same order, same
 * float32 rounding after each; wasm has no fused multiply-add), so the results are bit-identical to
 * the unfused versions, which on the wasm backend took one pass over memory per kernel.
 */
#include <wasm_simd128.h>

/*
 * out = ((x0·c0 + x1·c1) + x2·c2) for terms = 3, (x0·c0 + x1·c1) for terms = 2. A coefficient of 1
 * multiplies exactly, so it stands for an unscaled term.
 */
__attribute__((export_name("linear_combination"))) void linear_combination(const float *x0, const float *x1,
                                                                              const float *x2, float *out, int n,
                                                                              int terms, float c0, float c1,
                                                                              float c2) {
  v128_t k0 = wasm_f32x4_splat(c0), k1 = wasm_f32x4_splat(c1), k2 = wasm_f32x4_splat(c2);
  int i = 0;
  if (terms == 3) {
    for (; i + 4 <= n; i += 4) {
      v128_t s = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(x0 + i), k0), wasm_f32x4_mul(wasm_v128_load(x1 + i), k1));
      wasm_v128_store(out + i, wasm_f32x4_add(s, wasm_f32x4_mul(wasm_v128_load(x2 + i), k2)));
    }
    for (; i < n; i++) out[i] = (x0[i] * c0 + x1[i] * c1) + x2[i] * c2;
  } else {
    for (; i + 4 <= n; i += 4)
      wasm_v128_store(out + i, wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(x0 + i), k0),
                                              wasm_f32x4_mul(wasm_v128_load(x1 + i), k1)));
    for (; i < n; i++) out[i] = x0[i] * c0 + x1[i] * c1;
  }
}

/*
 * One Adam step for one variable, as tfjs's `tf.train.adam` computes it (and bdk's FlatAdam):
 *   g ← −g if maximize;  m′ = m·β1 + g·(1−β1);  v′ = v·β2 + (g·g)·(1−β2)
 *   value′ = (m′ / (1 − acc1)) / (sqrt(v′ / (1 − acc2)) + ε) · (−lr) + value
 * with acc1 = β1^t and acc2 = β2^t read from the one-element tensors at acc1, acc2. The moments m and
 * v (the variable's part of the optimizer's own flat moment vectors) are updated in place; value′ is
 * written to out.
 */
__attribute__((export_name("adam_update"))) void adam_update(const float *g, const float *value, float *m,
                                                                float *v, const float *acc1, const float *acc2,
                                                                float *out, int n, int maximize, float beta1,
                                                                float one_minus_beta1, float beta2,
                                                                float one_minus_beta2, float epsilon,
                                                                float neg_lr) {
  float omab1 = 1.0f - *acc1, omab2 = 1.0f - *acc2;
  v128_t b1 = wasm_f32x4_splat(beta1), ob1 = wasm_f32x4_splat(one_minus_beta1);
  v128_t b2 = wasm_f32x4_splat(beta2), ob2 = wasm_f32x4_splat(one_minus_beta2);
  v128_t d1 = wasm_f32x4_splat(omab1), d2 = wasm_f32x4_splat(omab2);
  v128_t eps = wasm_f32x4_splat(epsilon), nlr = wasm_f32x4_splat(neg_lr);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    v128_t gi = wasm_v128_load(g + i);
    if (maximize) gi = wasm_f32x4_neg(gi);
    v128_t mi = wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(m + i), b1), wasm_f32x4_mul(gi, ob1));
    v128_t vi =
        wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(v + i), b2), wasm_f32x4_mul(wasm_f32x4_mul(gi, gi), ob2));
    wasm_v128_store(m + i, mi);
    wasm_v128_store(v + i, vi);
    v128_t denom = wasm_f32x4_add(wasm_f32x4_sqrt(wasm_f32x4_div(vi, d2)), eps);
    v128_t step = wasm_f32x4_mul(wasm_f32x4_div(wasm_f32x4_div(mi, d1), denom), nlr);
    wasm_v128_store(out + i, wasm_f32x4_add(step, wasm_v128_load(value + i)));
  }
  for (; i < n; i++) {
    float gi = maximize ? -g[i] : g[i];
    float mi = m[i] * beta1 + gi * one_minus_beta1;
    float vi = v[i] * beta2 + (gi * gi) * one_minus_beta2;
    m[i] = mi;
    v[i] = vi;
    out[i] = ((mi / omab1) / (__builtin_sqrtf(vi / omab2) + epsilon)) * neg_lr + value[i];
  }
}

/*
 * The gradient of a ReLU as tfjs computes it, dy · step(x), in one pass: step(x) is 1 for x > 0, NaN
 * for NaN (as tfjs-wasm's Step), else 0, and the product is taken as a float32 multiplication, so
 * signed zeros and NaNs come out as tfjs's do.
 */
__attribute__((export_name("relu_grad"))) void relu_grad(const float *dy, const float *x, float *out, int n) {
  v128_t one = wasm_f32x4_splat(1), zero = wasm_f32x4_splat(0);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    v128_t xi = wasm_v128_load(x + i);
    v128_t s = wasm_v128_bitselect(one, zero, wasm_f32x4_gt(xi, zero));
    s = wasm_v128_bitselect(xi, s, wasm_f32x4_ne(xi, xi));
    wasm_v128_store(out + i, wasm_f32x4_mul(wasm_v128_load(dy + i), s));
  }
  for (; i < n; i++) {
    float xi = x[i];
    float s = xi != xi ? xi : (xi > 0 ? 1.0f : 0.0f);
    out[i] = dy[i] * s;
  }
}

/* out = max(x, 0) elementwise, NaN kept (wasm's f32x4.max propagates NaN); may run in place. */
__attribute__((export_name("relu"))) void relu(const float *x, float *out, int n) {
  v128_t zero = wasm_f32x4_splat(0);
  int i = 0;
  for (; i + 4 <= n; i += 4) wasm_v128_store(out + i, wasm_f32x4_max(wasm_v128_load(x + i), zero));
  for (; i < n; i++) out[i] = x[i] != x[i] || x[i] > 0 ? x[i] : 0.0f;
}
