/**
 * Seeded pseudo-random numbers. Every random number in bdk comes from an Rng built from an explicit
 * seed, so the same seed gives bit-identical results on every machine and backend.
 *
 * Generator: xoshiro128** (Blackman & Vigna 2018), 32-bit arithmetic only, seeded through SplitMix32
 * so that nearby seeds give unrelated streams. Its 128-bit state can be saved and restored
 * (`state` / `Rng.fromState`), which resumable runs rely on.
 */
export class Rng {
  private s: Uint32Array;
  private spareNormal: number | null = null;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new Error(`Rng seed must be a finite number, got ${seed}`);
    this.s = new Uint32Array(4);
    let x = Math.floor(seed) >>> 0;
    // Mix in the high bits of seeds above 2^32 so they do not collide with small ones.
    x = (x ^ Math.floor(seed / 4294967296)) >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if ((this.s[0] | this.s[1] | this.s[2] | this.s[3]) === 0) this.s[0] = 1;
  }

  /** Restores a generator saved with `state`. */
  static fromState(state: readonly number[]): Rng {
    if (state.length !== 5) throw new Error(`Rng state must have 5 entries, got ${state.length}`);
    const r = new Rng(0);
    r.s.set(state.slice(0, 4));
    r.spareNormal = Number.isNaN(state[4]) ? null : state[4];
    return r;
  }

  /** Serializable generator state (4 words plus the cached Box–Muller normal, NaN when empty). */
  state(): number[] {
    return [...this.s, this.spareNormal ?? NaN];
  }

  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform on [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n), without modulo bias. */
  int(n: number): number {
    if (!(n > 0 && n <= 4294967296 && Number.isInteger(n))) throw new Error(`Rng.int: bad bound ${n}`);
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const v = this.nextUint32();
      if (v < limit) return v % n;
    }
  }

  /** Standard normal by the Box–Muller transform (pairs cached). */
  normal(): number {
    if (this.spareNormal !== null) {
      const v = this.spareNormal;
      this.spareNormal = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Fills `out` with independent N(mean, sd²) draws. */
  fillNormal<T extends Float32Array | Float64Array>(out: T, mean = 0, sd = 1): T {
    for (let i = 0; i < out.length; i++) out[i] = mean + sd * this.normal();
    return out;
  }

  /**
   * Fills `out` with standard normals at float32 precision, about 10× faster than `fillNormal`:
   * the ziggurat method of Marsaglia & Tsang (2000) with 128 layers, taking the layer index and the
   * value from separate 32-bit words (Doornik 2005's fix for their correlation). This is the
   * sampler's noise source, where hundreds of thousands of draws are needed per step.
   */
  fillStandardNormal32(out: Float32Array): Float32Array {
    const { kn, wn } = ZIGGURAT;
    const st = this.s;
    // The fast path inlines two xoshiro128** steps on local copies of the state (the same stream as
    // nextUint32, without its typed-array loads and stores); the rare rejection path syncs the state.
    let s0 = st[0] | 0;
    let s1 = st[1] | 0;
    let s2 = st[2] | 0;
    let s3 = st[3] | 0;
    for (let i = 0; i < out.length; i++) {
      let m = Math.imul(s1, 5);
      const w1 = Math.imul((m << 7) | (m >>> 25), 9);
      let t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = (s3 << 11) | (s3 >>> 21);
      m = Math.imul(s1, 5);
      const w2 = Math.imul((m << 7) | (m >>> 25), 9);
      t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = (s3 << 11) | (s3 >>> 21);
      const iz = w1 & 127;
      const hz = w2 | 0;
      if (Math.abs(hz) < kn[iz]) {
        out[i] = hz * wn[iz];
        continue;
      }
      st[0] = s0;
      st[1] = s1;
      st[2] = s2;
      st[3] = s3;
      out[i] = this.zigguratReject(iz, hz);
      s0 = st[0] | 0;
      s1 = st[1] | 0;
      s2 = st[2] | 0;
      s3 = st[3] | 0;
    }
    st[0] = s0;
    st[1] = s1;
    st[2] = s2;
    st[3] = s3;
    return out;
  }

  /** The reference form of {@link fillStandardNormal32}, one `nextUint32` call per word (tests compare the two). */
  fillStandardNormal32Reference(out: Float32Array): Float32Array {
    const { kn, wn } = ZIGGURAT;
    for (let i = 0; i < out.length; i++) {
      const iz = this.nextUint32() & 127;
      const hz = this.nextUint32() | 0;
      out[i] = Math.abs(hz) < kn[iz] ? hz * wn[iz] : this.zigguratReject(iz, hz);
    }
    return out;
  }

  /** The ziggurat's slow path for a draw (iz, hz) outside its layer's rectangle. */
  private zigguratReject(iz: number, hz: number): number {
    const { kn, wn, fn } = ZIGGURAT;
    // The tail beyond r for the base layer, the wedge otherwise.
    for (;;) {
      const x = hz * wn[iz];
      if (iz === 0) {
        let tx: number;
        let ty: number;
        do {
          tx = -Math.log(this.open01()) / ZIGGURAT_R;
          ty = -Math.log(this.open01());
        } while (ty + ty < tx * tx);
        return hz > 0 ? ZIGGURAT_R + tx : -ZIGGURAT_R - tx;
      }
      if (fn[iz] + this.open01() * (fn[iz - 1] - fn[iz]) < Math.exp(-0.5 * x * x)) return x;
      iz = this.nextUint32() & 127;
      hz = this.nextUint32() | 0;
      if (Math.abs(hz) < kn[iz]) return hz * wn[iz];
    }
  }

  /** Uniform on the open interval (0, 1) from one 32-bit word. */
  private open01(): number {
    return (this.nextUint32() + 0.5) / 4294967296;
  }

  /** Uniformly random permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }

  /** A new seed for a child generator or a tfjs op, drawn from this stream. */
  seed(): number {
    return this.nextUint32();
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Ziggurat tables for the standard normal, 128 layers (Marsaglia & Tsang 2000). */
const ZIGGURAT_R = 3.442619855899;
const ZIGGURAT = (() => {
  const kn = new Float64Array(128);
  const wn = new Float64Array(128);
  const fn = new Float64Array(128);
  const m1 = 2147483648;
  const vn = 9.91256303526217e-3;
  let dn = ZIGGURAT_R;
  let tn = dn;
  const q = vn / Math.exp(-0.5 * dn * dn);
  kn[0] = Math.floor((dn / q) * m1);
  kn[1] = 0;
  wn[0] = q / m1;
  wn[127] = dn / m1;
  fn[0] = 1;
  fn[127] = Math.exp(-0.5 * dn * dn);
  for (let i = 126; i >= 1; i--) {
    dn = Math.sqrt(-2 * Math.log(vn / dn + Math.exp(-0.5 * dn * dn)));
    kn[i + 1] = Math.floor((dn / tn) * m1);
    tn = dn;
    fn[i] = Math.exp(-0.5 * dn * dn);
    wn[i] = dn / m1;
  }
  return { kn, wn, fn };
})();
