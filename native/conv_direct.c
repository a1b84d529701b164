/*
 * A direct convolution for layers with few filters, in WebAssembly SIMD (no im2col matrix, no product
 * call). With few output channels Co, im2col + matmul moves K = FH·FW·C floats per output pixel through
 * memory and runs a product whose result is only Co wide (the first layer of an image model: C = 1,
 * Co = 4 runs at about a third of the dense kernels' rate). Here each image is copied once into zero-padded
 * channel planes, and every output row is computed from them in registers: 8 neighbouring pixels times
 * 4 output channels per step (8 accumulators), so each input vector serves 4 products and each weight
 * vector 2. The bias and a ReLU are applied on the way out (FusedConv2D).
 *
 * Geometry: the 14 ints of conv.c at `g` (B, H, W, C, OH, OW, FH, FW, SH, SW, DH, DW, PT, PL), with
 * strides and dilations 1 (the caller checks). Filter w is HWIO [FH, FW, C, Co]; output NHWC [B, OH, OW, Co].
 * `scratch` holds conv_direct_scratch(g, co) floats.
 */
#include <wasm_simd128.h>

static inline int round_up(int n, int m) { return (n + m - 1) / m * m; }

/* Floats of scratch conv_direct needs: the padded planes, the splatted weights, the bias. */
__attribute__((export_name("conv_direct_scratch"))) int conv_direct_scratch(const int *g, int co) {
  int C = g[3], OH = g[4], OW = g[5], FH = g[6], FW = g[7];
  int wp = round_up(OW, 8) + FW - 1, hp = OH + FH - 1, cop = round_up(co, 4);
  return C * hp * wp + FH * FW * C * cop * 4 + cop;
}

/* Stores the first n (1–4) lanes of v at dst. */
static inline void store_lanes(float *dst, v128_t v, int n) {
  if (n == 4) {
    wasm_v128_store(dst, v);
    return;
  }
  dst[0] = wasm_f32x4_extract_lane(v, 0);
  if (n > 1) dst[1] = wasm_f32x4_extract_lane(v, 1);
  if (n > 2) dst[2] = wasm_f32x4_extract_lane(v, 2);
}

/*
 * Writes 4 pixels (ow0 … ow0 + 3, those below OW) of 4 channels: a0…a3 hold channels c…c + 3, each over
 * the 4 pixels; they are transposed to one vector per pixel, biased, rectified when relu, and stored.
 */
static inline void store_block(float *y, int ow0, int OW, int co, int n, v128_t a0, v128_t a1, v128_t a2,
                               v128_t a3, v128_t bias, int relu) {
  v128_t t0 = wasm_i32x4_shuffle(a0, a1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(a2, a3, 0, 4, 1, 5);
  v128_t t2 = wasm_i32x4_shuffle(a0, a1, 2, 6, 3, 7), t3 = wasm_i32x4_shuffle(a2, a3, 2, 6, 3, 7);
  v128_t r[4] = {wasm_i32x4_shuffle(t0, t1, 0, 1, 4, 5), wasm_i32x4_shuffle(t0, t1, 2, 3, 6, 7),
                 wasm_i32x4_shuffle(t2, t3, 0, 1, 4, 5), wasm_i32x4_shuffle(t2, t3, 2, 3, 6, 7)};
  v128_t zero = wasm_f32x4_splat(0);
#pragma clang loop unroll(full)
  for (int i = 0; i < 4; i++) {
    if (ow0 + i >= OW) return;
    v128_t v = wasm_f32x4_add(r[i], bias);
    if (relu) v = wasm_f32x4_max(v, zero);
    store_lanes(y + (ow0 + i) * co, v, n);
  }
}

__attribute__((export_name("conv_direct"))) void conv_direct(const float *x, const float *w, const float *bias,
                                                              float *y, const int *g, int co, float *scratch,
                                                              int relu) {
  int B = g[0], H = g[1], W = g[2], C = g[3], OH = g[4], OW = g[5], FH = g[6], FW = g[7], PT = g[12],
      PL = g[13];
  int owp = round_up(OW, 8), wp = owp + FW - 1, hp = OH + FH - 1, cop = round_up(co, 4);
  int taps = FH * FW * C;
  float *plane = scratch, *ws = plane + C * hp * wp, *bs = ws + taps * cop * 4;
  /* Weights as 4-float splats, [tap][cop][4] with tap = (fh·FW + fw)·C + c; padded filters are 0. */
  for (int t = 0; t < taps; t++)
    for (int o = 0; o < cop; o++)
      wasm_v128_store(ws + (t * cop + o) * 4, wasm_f32x4_splat(o < co ? w[t * co + o] : 0));
  for (int o = 0; o < cop; o++) bs[o] = bias && o < co ? bias[o] : 0;
  /* Rows r and columns q of the planes hold input pixel (r − PT, q − PL); the border stays zero. */
  for (int i = 0; i < C * hp * wp; i++) plane[i] = 0;
  int r0 = PT, r1 = PT + H < hp ? PT + H : hp, q0 = PL, q1 = PL + W < wp ? PL + W : wp;
  for (int b = 0; b < B; b++) {
    const float *xb = x + b * H * W * C;
    for (int c = 0; c < C; c++)
      for (int r = r0; r < r1; r++) {
        float *dst = plane + (c * hp + r) * wp;
        const float *src = xb + ((r - PT) * W - PL) * C + c;
        for (int q = q0; q < q1; q++) dst[q] = src[q * C];
      }
    for (int oh = 0; oh < OH; oh++) {
      float *yr = y + ((b * OH + oh) * OW) * co;
      for (int ow0 = 0; ow0 < owp; ow0 += 8)
        for (int o = 0; o < cop; o += 4) {
          v128_t a0 = wasm_f32x4_splat(0), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
          for (int fh = 0; fh < FH; fh++)
            for (int c = 0; c < C; c++) {
              const float *row = plane + (c * hp + oh + fh) * wp + ow0;
              const float *wt = ws + ((fh * FW * C + c) * cop + o) * 4;
              for (int fw = 0; fw < FW; fw++, row++, wt += C * cop * 4) {
                v128_t xa = wasm_v128_load(row), xb4 = wasm_v128_load(row + 4);
                v128_t w0 = wasm_v128_load(wt), w1 = wasm_v128_load(wt + 4);
                v128_t w2 = wasm_v128_load(wt + 8), w3 = wasm_v128_load(wt + 12);
                a0 = wasm_f32x4_add(a0, wasm_f32x4_mul(xa, w0));
                a1 = wasm_f32x4_add(a1, wasm_f32x4_mul(xa, w1));
                a2 = wasm_f32x4_add(a2, wasm_f32x4_mul(xa, w2));
                a3 = wasm_f32x4_add(a3, wasm_f32x4_mul(xa, w3));
                b0 = wasm_f32x4_add(b0, wasm_f32x4_mul(xb4, w0));
                b1 = wasm_f32x4_add(b1, wasm_f32x4_mul(xb4, w1));
                b2 = wasm_f32x4_add(b2, wasm_f32x4_mul(xb4, w2));
                b3 = wasm_f32x4_add(b3, wasm_f32x4_mul(xb4, w3));
              }
            }
          int n = co - o < 4 ? co - o : 4;
          v128_t bv = wasm_v128_load(bs + o);
          store_block(yr + o, ow0, OW, co, n, a0, a1, a2, a3, bv, relu);
          store_block(yr + o, ow0 + 4, OW, co, n, b0, b1, b2, b3, bv, relu);
        }
    }
  }
}
