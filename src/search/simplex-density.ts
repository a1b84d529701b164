/**
 * Closed-form log densities of the relaxations of γ on the (K−1)-simplex, and a numerical integrator
 * over the 2-simplex for checking them.
 *
 * A point x = (x_1, …, x_K), x_k > 0, Σ x_k = 1, has K−1 free coordinates; every density here is with
 * respect to Lebesgue measure on the first K−1 coordinates (x_K = 1 − Σ_{k<K} x_k), so it integrates
 * to 1 over {x_1..x_{K−1} ≥ 0, Σ ≤ 1}, a region of volume 1/(K−1)!. Points off the simplex's interior
 * (some x_k ≤ 0) get log density −∞ (the Dirichlet with α_k < 1 excepted, which diverges there).
 * Parameters are those of the formulas: location s (concrete), concentration α (Dirichlet), μ and σ
 * (logit-normal); the samplers in `relaxations.ts` take their logarithms as logits.
 */

const LOG_2PI = Math.log(2 * Math.PI);

function check(x: ArrayLike<number>, params: ArrayLike<number>, what: string, fn: string): void {
  if (params.length !== x.length)
    throw new Error(`${fn}: ${what} has ${params.length} values for a point with ${x.length} coordinates`);
  if (x.length < 2) throw new Error(`${fn}: a point of the simplex needs at least 2 coordinates`);
  for (let k = 0; k < params.length; k++) {
    if (!(Number.isFinite(params[k]) && params[k] > 0))
      throw new Error(`${fn}: ${what} must be positive, got ${params[k]}`);
  }
}

function onSimplexInterior(x: ArrayLike<number>): boolean {
  let s = 0;
  for (let k = 0; k < x.length; k++) {
    if (!(x[k] > 0)) return false;
    s += x[k];
  }
  return Math.abs(s - 1) <= 1e-9 * x.length;
}

/** log Γ(z) for z > 0 (Lanczos, g = 7, 9 terms; relative error about 1e-15). */
export function logGamma(z: number): number {
  if (z < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * z))) - logGamma(1 - z);
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  const w = z - 1;
  let a = c[0];
  const t = w + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (w + i);
  return 0.5 * LOG_2PI + (w + 0.5) * Math.log(t) - t + Math.log(a);
}

/** log Σ exp(v_k), stable. */
function logSumExp(v: ArrayLike<number>): number {
  let m = -Infinity;
  for (let k = 0; k < v.length; k++) m = Math.max(m, v[k]);
  if (!Number.isFinite(m)) return m;
  let s = 0;
  for (let k = 0; k < v.length; k++) s += Math.exp(v[k] - m);
  return m + Math.log(s);
}

/**
 * Concrete / Gumbel-softmax GS(s, λ) density (Maddison et al. 2017, Jang et al. 2017):
 *   p(x) = (K−1)! λ^(K−1) Π_k (s_k x_k^(−λ−1)) / (Σ_k s_k x_k^(−λ))^K.
 * `location` = s (positive, unnormalized), `temperature` = λ > 0.
 */
export function concreteLogDensity(
  x: ArrayLike<number>,
  location: ArrayLike<number>,
  temperature: number,
): number {
  check(x, location, 'location', 'concreteLogDensity');
  if (!(Number.isFinite(temperature) && temperature > 0))
    throw new Error(`concreteLogDensity: temperature must be positive, got ${temperature}`);
  if (!onSimplexInterior(x)) return -Infinity;
  const K = x.length;
  const terms = new Float64Array(K);
  let logNum = logGamma(K) + (K - 1) * Math.log(temperature);
  for (let k = 0; k < K; k++) {
    const ls = Math.log(location[k]);
    const lx = Math.log(x[k]);
    logNum += ls - (temperature + 1) * lx;
    terms[k] = ls - temperature * lx;
  }
  return logNum - K * logSumExp(terms);
}

/** Dirichlet Dir(α) density: p(x) = Γ(α₀)/Π Γ(α_k) · Π x_k^(α_k − 1), α₀ = Σ α_k. */
export function dirichletLogDensity(x: ArrayLike<number>, concentration: ArrayLike<number>): number {
  check(x, concentration, 'concentration', 'dirichletLogDensity');
  let s = 0;
  for (let k = 0; k < x.length; k++) {
    if (x[k] < 0) return -Infinity;
    s += x[k];
  }
  if (Math.abs(s - 1) > 1e-9 * x.length) return -Infinity;
  let a0 = 0;
  let out = 0;
  for (let k = 0; k < x.length; k++) {
    const a = concentration[k];
    a0 += a;
    out += -logGamma(a) + (a === 1 ? 0 : (a - 1) * Math.log(x[k]));
  }
  return out + logGamma(a0);
}

/**
 * Logit-normal density of γ = softmax(z), z ~ N(μ, diag σ²) in R^K (`sigma` a number or one value per
 * k). softmax is invariant to z + c·1, so the density is that of the additive log-ratios
 * y_k = log(x_k/x_K) = z_k − z_K, k < K, which are Gaussian with mean m_k = μ_k − μ_K and covariance
 * C = D + σ_K² 11ᵀ, D = diag(σ_1², …, σ_{K−1}²), times the Jacobian |∂y/∂x_{1..K−1}| = 1/Π_{k=1}^K x_k:
 *   log p(x) = −Σ_k log x_k − ((K−1)/2) log 2π − ½ log det C − ½ (y − m)ᵀ C⁻¹ (y − m),
 * with det C = Π d_k · (1 + σ_K² Σ 1/d_k) (determinant lemma) and C⁻¹ by Sherman–Morrison.
 */
export function logitNormalLogDensity(
  x: ArrayLike<number>,
  mu: ArrayLike<number>,
  sigma: number | ArrayLike<number>,
): number {
  const K = x.length;
  if (mu.length !== K)
    throw new Error(`logitNormalLogDensity: mu has ${mu.length} values for a point with ${K} coordinates`);
  const sd = typeof sigma === 'number' ? Array.from({ length: K }, () => sigma) : sigma;
  check(x, sd, 'sigma', 'logitNormalLogDensity');
  if (!onSimplexInterior(x)) return -Infinity;
  const lxK = Math.log(x[K - 1]);
  const c = sd[K - 1] * sd[K - 1];
  let sumLogX = lxK;
  let logDetD = 0;
  let sumInvD = 0;
  let sumRInvD = 0;
  let quadD = 0;
  for (let k = 0; k < K - 1; k++) {
    const lx = Math.log(x[k]);
    sumLogX += lx;
    const d = sd[k] * sd[k];
    const r = lx - lxK - (mu[k] - mu[K - 1]);
    logDetD += Math.log(d);
    sumInvD += 1 / d;
    sumRInvD += r / d;
    quadD += (r * r) / d;
  }
  const denom = 1 + c * sumInvD;
  const logDet = logDetD + Math.log(denom);
  const quad = quadD - (c * sumRInvD * sumRInvD) / denom;
  return -sumLogX - 0.5 * (K - 1) * LOG_2PI - 0.5 * logDet - 0.5 * quad;
}

// ---------------------------------------------------------------------------------------------------
// The 2-simplex as a triangle grid
// ---------------------------------------------------------------------------------------------------

/** One cell of the triangle grid: its three corners and its centroid, in barycentric coordinates. */
export interface SimplexCell {
  corners: [number[], number[], number[]];
  centroid: number[];
}

/**
 * The 2-simplex cut into n² congruent triangles by lines parallel to its sides (n subdivisions per
 * side): n(n+1)/2 "upward" cells and n(n−1)/2 "downward" ones, each 1/n² of the area.
 */
export function simplexCells(n: number): SimplexCell[] {
  if (!(Number.isInteger(n) && n >= 1))
    throw new Error(`simplexCells: n must be a positive integer, got ${n}`);
  const cells: SimplexCell[] = [];
  const p = (i: number, j: number, k: number) => [i / n, j / n, k / n];
  for (let i = 0; i < n; i++) {
    for (let j = 0; i + j < n; j++) {
      const k = n - 1 - i - j;
      cells.push({
        corners: [p(i + 1, j, k), p(i, j + 1, k), p(i, j, k + 1)],
        centroid: [(i + 1 / 3) / n, (j + 1 / 3) / n, (k + 1 / 3) / n],
      });
      if (k >= 1) {
        // The downward cell (i, j+1, k), (i+1, j, k), (i+1, j+1, k−1) that shares the edge opposite.
        const kk = k - 1;
        cells.push({
          corners: [p(i, j + 1, kk + 1), p(i + 1, j, kk + 1), p(i + 1, j + 1, kk)],
          centroid: [(i + 2 / 3) / n, (j + 2 / 3) / n, (kk + 2 / 3) / n],
        });
      }
    }
  }
  return cells;
}

/**
 * ∫ f(x) dx₁ dx₂ over the 2-simplex (Lebesgue measure on the first two coordinates, total area ½), by
 * the centroid rule on the n² cells of {@link simplexCells}: error O(1/n²) for smooth f. Centroids
 * never touch the boundary, so integrable singularities there are tolerated but converge slowly.
 * `f` receives a reused array [x₁, x₂, x₃]; it must not keep it.
 */
export function integrateSimplex2(f: (x: Float64Array) => number, n = 200): number {
  if (!(Number.isInteger(n) && n >= 1))
    throw new Error(`integrateSimplex2: n must be a positive integer, got ${n}`);
  const x = new Float64Array(3);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; i + j < n; j++) {
      const k = n - 1 - i - j;
      x[0] = (i + 1 / 3) / n;
      x[1] = (j + 1 / 3) / n;
      x[2] = 1 - x[0] - x[1];
      sum += f(x);
      if (k >= 1) {
        x[0] = (i + 2 / 3) / n;
        x[1] = (j + 2 / 3) / n;
        x[2] = 1 - x[0] - x[1];
        sum += f(x);
      }
    }
  }
  return (sum * 0.5) / (n * n);
}

/**
 * The same integral as {@link integrateSimplex2}, computed in additive-log-ratio coordinates
 * y_k = log(x_k/x₃), where dx₁dx₂ = x₁x₂x₃ dy₁dy₂: the midpoint rule on an n × n grid over
 * [−halfWidth, halfWidth]². Densities that diverge at the vertices or edges (concrete with small λ,
 * Dirichlet with α_k < 1) become smooth, exponentially decaying integrands there, so this converges
 * fast where the triangle grid does not; `halfWidth` must cover their tails (e.g. ≳ 40/λ for concrete).
 */
export function integrateSimplex2LogRatio(
  f: (x: Float64Array) => number,
  options: { n?: number; halfWidth?: number } = {},
): number {
  const n = options.n ?? 400;
  const w = options.halfWidth ?? 40;
  if (!(Number.isInteger(n) && n >= 1))
    throw new Error(`integrateSimplex2LogRatio: n must be a positive integer, got ${n}`);
  if (!(Number.isFinite(w) && w > 0))
    throw new Error(`integrateSimplex2LogRatio: halfWidth must be positive, got ${w}`);
  const h = (2 * w) / n;
  const x = new Float64Array(3);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const y1 = -w + (i + 0.5) * h;
    for (let j = 0; j < n; j++) {
      const y2 = -w + (j + 0.5) * h;
      const m = Math.max(y1, y2, 0);
      const e1 = Math.exp(y1 - m);
      const e2 = Math.exp(y2 - m);
      const e3 = Math.exp(-m);
      const s = e1 + e2 + e3;
      x[0] = e1 / s;
      x[1] = e2 / s;
      x[2] = e3 / s;
      const jac = x[0] * x[1] * x[2];
      if (jac > 0) sum += f(x) * jac;
    }
  }
  return sum * h * h;
}
