/*
 * The data movement around convolutions and pooling, in WebAssembly SIMD, run in place on tensors of
 * tfjs's wasm backend (see matmul.c for the memory rules). The products themselves are matmul.c's
 * batch_matmul: a convolution is im2col followed by one matrix product (src/backend/wasm-conv.ts).
 *
 * Layout NHWC. Every kernel takes the geometry as 14 ints at `g` (a heap buffer filled by the caller):
 *   B, H, W, C       input batch, height, width, channels
 *   OH, OW           output height, width
 *   FH, FW           filter (or pooling window) height, width, before dilation
 *   SH, SW, DH, DW   strides and dilations
 *   PT, PL           padding at the top and the left
 * The input pixel of output (oh, ow) and filter tap (fh, fw) is (oh·SH + fh·DH − PT, ow·SW + fw·DW − PL);
 * taps outside the image read zero (convolutions) or are skipped (pooling).
 */
#include <wasm_simd128.h>

#define GEOMETRY                                                                                        \
  int B = g[0], H = g[1], W = g[2], C = g[3], OH = g[4], OW = g[5], FH = g[6], FW = g[7], SH = g[8],    \
      SW = g[9], DH = g[10], DW = g[11], PT = g[12], PL = g[13];                                        \
  (void)B

/* Copies n floats; from 4 on, the last 4 as one (overlapping) vector instead of a scalar tail. */
static inline void copy(float *dst, const float *src, int n) {
  if (n < 4) {
#pragma clang loop vectorize(disable) unroll(disable)
    for (int i = 0; i < n; i++) dst[i] = src[i];
    return;
  }
  int i = 0;
#pragma clang loop vectorize(disable) unroll(disable)
  for (; i + 4 < n; i += 4) wasm_v128_store(dst + i, wasm_v128_load(src + i));
  wasm_v128_store(dst + n - 4, wasm_v128_load(src + n - 4));
}

static inline void zero(float *dst, int n) {
  if (n < 4) {
#pragma clang loop vectorize(disable) unroll(disable)
    for (int i = 0; i < n; i++) dst[i] = 0;
    return;
  }
  int i = 0;
#pragma clang loop vectorize(disable) unroll(disable)
  for (; i + 4 < n; i += 4) wasm_v128_store(dst + i, wasm_f32x4_splat(0));
  wasm_v128_store(dst + n - 4, wasm_f32x4_splat(0));
}

static inline void add_to(float *dst, const float *src, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4)
    wasm_v128_store(dst + i, wasm_f32x4_add(wasm_v128_load(dst + i), wasm_v128_load(src + i)));
#pragma clang loop vectorize(disable) unroll(disable)
  for (; i < n; i++) dst[i] += src[i];
}

/* The outputs o in [lo, hi) whose input coordinate o·stride + offset lies in [0, size). */
static inline int range_lo(int out, int stride, int offset) {
  int l = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  return l > out ? out : l;
}
static inline int range_hi(int out, int stride, int offset, int size) {
  int h = size - 1 - offset < 0 ? 0 : (size - 1 - offset) / stride + 1;
  int l = range_lo(out, stride, offset);
  if (h > out) h = out;
  return h < l ? l : h;
}

/*
 * The im2col matrix of x for rows p = (b·OH + oh)·OW + ow and columns k = (fh·FW + fw)·C + c:
 * col[p, k] = x[b, oh·SH + fh·DH − PT, ow·SW + fw·DW − PL, c] (0 outside the image), stored [P, K]
 * (transposed = 0) or [K, P] (transposed = 1), P = B·OH·OW, K = FH·FW·C.
 */
__attribute__((export_name("im2col"))) void im2col(const float *x, float *col, const int *g, int transposed) {
  GEOMETRY;
  int K = FH * FW * C, P = B * OH * OW;
  if (!transposed) {
    // Outputs whose whole window row lies inside the image (DW = 1): one run of FW·C floats per fh.
    int lo = DW == 1 ? range_lo(OW, SW, -PL) : OW, hi = DW == 1 ? range_hi(OW, SW, FW - 1 - PL, W) : OW;
    if (hi < lo) hi = lo;
    for (int b = 0; b < B; b++)
      for (int oh = 0; oh < OH; oh++) {
        float *rows = col + (b * OH + oh) * OW * K;
        for (int fh = 0; fh < FH; fh++) {
          int ih = oh * SH + fh * DH - PT;
          float *dst = rows + fh * FW * C;
          if (ih < 0 || ih >= H) {
            for (int ow = 0; ow < OW; ow++) zero(dst + ow * K, FW * C);
            continue;
          }
          const float *xr = x + ((b * H + ih) * W) * C;
          for (int ow = 0; ow < OW; ow++) {
            if (ow == lo) {
              const float *src = xr + (lo * SW - PL) * C;
              for (; ow < hi; ow++, src += SW * C) copy(dst + ow * K, src, FW * C);
              if (ow == OW) break;
            }
            for (int fw = 0; fw < FW; fw++) {
              int iw = ow * SW + fw * DW - PL;
              if (iw < 0 || iw >= W)
                zero(dst + ow * K + fw * C, C);
              else
                copy(dst + ow * K + fw * C, xr + iw * C, C);
            }
          }
        }
      }
    return;
  }
  for (int fh = 0; fh < FH; fh++)
    for (int fw = 0; fw < FW; fw++) {
      int lo = range_lo(OW, SW, fw * DW - PL), hi = range_hi(OW, SW, fw * DW - PL, W);
      for (int c = 0; c < C; c++) {
        float *dst = col + ((fh * FW + fw) * C + c) * P;
        for (int b = 0; b < B; b++)
          for (int oh = 0; oh < OH; oh++, dst += OW) {
            int ih = oh * SH + fh * DH - PT;
            if (ih < 0 || ih >= H || lo >= hi) {
              zero(dst, OW);
              continue;
            }
            zero(dst, lo);
            zero(dst + hi, OW - hi);
            const float *src = x + ((b * H + ih) * W + lo * SW + fw * DW - PL) * C + c;
            int step = SW * C;
            if (step == 1)
              copy(dst + lo, src, hi - lo);
            else
              for (int ow = lo; ow < hi; ow++, src += step) dst[ow] = *src;
          }
      }
    }
}

/*
 * The adjoint of im2col (rows layout): dx[b, ih, iw, c] = Σ col[p, k] over the (p, k) that im2col
 * reads from (b, ih, iw, c), added in the order of p, then k. dx is overwritten.
 */
__attribute__((export_name("col2im"))) void col2im(const float *col, float *dx, const int *g) {
  GEOMETRY;
  int K = FH * FW * C;
  zero(dx, B * H * W * C);
  const float *row = col;
  for (int b = 0; b < B; b++)
    for (int oh = 0; oh < OH; oh++)
      for (int ow = 0; ow < OW; ow++, row += K) {
        int iw0 = ow * SW - PL;
        int inside = DW == 1 && iw0 >= 0 && iw0 + FW <= W;
        for (int fh = 0; fh < FH; fh++) {
          int ih = oh * SH + fh * DH - PT;
          if (ih < 0 || ih >= H) continue;
          const float *src = row + fh * FW * C;
          float *xr = dx + ((b * H + ih) * W) * C;
          if (inside) {
            add_to(xr + iw0 * C, src, FW * C);
            continue;
          }
          for (int fw = 0; fw < FW; fw++) {
            int iw = iw0 + fw * DW;
            if (iw >= 0 && iw < W) add_to(xr + iw * C, src + fw * C, C);
          }
        }
      }
}

/* dst [cols, rows] = transpose of src [rows, cols], in blocks of 8 × 8 that stay in L1. */
__attribute__((export_name("transpose2d"))) void transpose2d(const float *src, float *dst, int rows, int cols) {
  for (int i0 = 0; i0 < rows; i0 += 8) {
    int i1 = i0 + 8 < rows ? i0 + 8 : rows;
    for (int j0 = 0; j0 < cols; j0 += 8) {
      int j1 = j0 + 8 < cols ? j0 + 8 : cols;
      for (int i = i0; i < i1; i++)
        for (int j = j0; j < j1; j++) dst[j * rows + i] = src[i * cols + j];
    }
  }
}

/*
 * max_pool_grad for windows that tile the image (window = stride, no padding, no dilation, C ≥ 4,
 * OH·FH ≤ H, OW·FW ≤ W; the caller checks): each input pixel is in at most one window, so dx is
 * written, not added to. Four channels at a time (the
 * last four overlap the previous ones when C is not a multiple of 4, and write the same values); each
 * lane runs the scalar rule's comparisons in the same order.
 */
__attribute__((export_name("max_pool_grad_tiled"))) void max_pool_grad_tiled(const float *x, const float *dy,
                                                                              float *dx, int B, int H, int W,
                                                                              int C, int OH, int OW, int FH,
                                                                              int FW) {
  zero(dx, B * H * W * C);
  const v128_t none = wasm_i32x4_splat(-1), zeros = wasm_f32x4_splat(0);
  for (int b = 0; b < B; b++)
    for (int oh = 0; oh < OH; oh++)
      for (int ow = 0; ow < OW; ow++) {
        const float *d = dy + ((b * OH + oh) * OW + ow) * C;
        int corner = ((b * H + oh * FH) * W + ow * FW) * C;
        for (int c0 = 0; c0 < C; c0 += 4) {
          int c = c0 + 4 <= C ? c0 : C - 4;
          v128_t best = wasm_f32x4_splat(-__builtin_inff()), at = none;
          for (int fh = 0; fh < FH; fh++)
            for (int fw = 0; fw < FW; fw++) {
              v128_t v = wasm_v128_load(x + corner + (fh * W + fw) * C + c);
              v128_t gt = wasm_f32x4_gt(v, best);
              best = wasm_v128_bitselect(v, best, gt);
              at = wasm_v128_bitselect(wasm_i32x4_splat(fh * FW + fw), at, gt);
            }
          v128_t dv = wasm_v128_load(d + c);
          for (int fh = 0; fh < FH; fh++)
            for (int fw = 0; fw < FW; fw++) {
              v128_t hit = wasm_i32x4_eq(at, wasm_i32x4_splat(fh * FW + fw));
              wasm_v128_store(dx + corner + (fh * W + fw) * C + c, wasm_v128_bitselect(dv, zeros, hit));
            }
        }
      }
}

/*
 * The gradient of max pooling: dx = 0, then each dy[b, oh, ow, c] is added to dx at the first largest
 * x in its window (scanning rows, then columns; x > max strictly, so a window of NaN or −∞ passes
 * nothing), in the order of the outputs. This is tfjs's rule (maxPoolPositions and maxPoolBackprop in
 * its cpu backend), and the same order of additions.
 */
__attribute__((export_name("max_pool_grad"))) void max_pool_grad(const float *x, const float *dy, float *dx,
                                                                  const int *g) {
  GEOMETRY;
  zero(dx, B * H * W * C);
  for (int b = 0; b < B; b++) {
    const float *xb = x + b * H * W * C;
    float *dxb = dx + b * H * W * C;
    for (int oh = 0; oh < OH; oh++) {
      int fh0 = range_lo(FH, DH, oh * SH - PT), fh1 = range_hi(FH, DH, oh * SH - PT, H);
      for (int ow = 0; ow < OW; ow++) {
        int fw0 = range_lo(FW, DW, ow * SW - PL), fw1 = range_hi(FW, DW, ow * SW - PL, W);
        const float *d = dy + ((b * OH + oh) * OW + ow) * C;
        for (int c = 0; c < C; c++) {
          float best = -__builtin_inff();
          int at = -1;
          for (int fh = fh0; fh < fh1; fh++) {
            int i = ((oh * SH + fh * DH - PT) * W + ow * SW + fw0 * DW - PL) * C + c;
            for (int fw = fw0; fw < fw1; fw++, i += DW * C)
              if (xb[i] > best) {
                best = xb[i];
                at = i;
              }
          }
          if (at >= 0) dxb[at] += d[c];
        }
      }
    }
  }
}

/*
 * out[i, j] = x[i, j] + bias[j] for i < rows, j < n. When n is not a multiple of 4, the bias is first
 * repeated into `pattern` (lcm(n, 4) floats, given by the caller) and added a block of rows at a time.
 */
__attribute__((export_name("add_bias"))) void add_bias(const float *x, const float *bias, float *out, int rows,
                                                        int n, float *pattern) {
  if (n % 4 == 0) {
    for (int i = 0; i < rows; i++, x += n, out += n)
      for (int j = 0; j < n; j += 4)
        wasm_v128_store(out + j, wasm_f32x4_add(wasm_v128_load(x + j), wasm_v128_load(bias + j)));
    return;
  }
  int block = n % 2 ? 4 * n : 2 * n; /* lcm(n, 4) */
  for (int j = 0; j < block; j++) pattern[j] = bias[j % n];
  int total = rows * n, i = 0;
  for (; i + block <= total; i += block)
    for (int j = 0; j < block; j += 4)
      wasm_v128_store(out + i + j, wasm_f32x4_add(wasm_v128_load(x + i + j), wasm_v128_load(pattern + j)));
  for (int j = 0; i < total; i++, j++) out[i] = x[i] + pattern[j];
}

/* out[j] = Σ_i x[i, j] for i < rows (added in the order of i, from 0), j < n. */
__attribute__((export_name("sum_rows"))) void sum_rows(const float *x, float *out, int rows, int n) {
  int j = 0;
  for (; j + 16 <= n; j += 16) {
    v128_t s0 = wasm_f32x4_splat(0), s1 = s0, s2 = s0, s3 = s0;
    const float *p = x + j;
    for (int i = 0; i < rows; i++, p += n) {
      s0 = wasm_f32x4_add(s0, wasm_v128_load(p));
      s1 = wasm_f32x4_add(s1, wasm_v128_load(p + 4));
      s2 = wasm_f32x4_add(s2, wasm_v128_load(p + 8));
      s3 = wasm_f32x4_add(s3, wasm_v128_load(p + 12));
    }
    wasm_v128_store(out + j, s0);
    wasm_v128_store(out + j + 4, s1);
    wasm_v128_store(out + j + 8, s2);
    wasm_v128_store(out + j + 12, s3);
  }
  for (; j + 4 <= n; j += 4) {
    v128_t s = wasm_f32x4_splat(0);
    const float *p = x + j;
    for (int i = 0; i < rows; i++, p += n) s = wasm_f32x4_add(s, wasm_v128_load(p));
    wasm_v128_store(out + j, s);
  }
  for (; j < n; j++) {
    float s = 0;
    const float *p = x + j;
    for (int i = 0; i < rows; i++, p += n) s += *p;
    out[j] = s;
  }
}
