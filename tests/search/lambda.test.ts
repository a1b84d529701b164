/**
 * The λ of the generalized objective (docs/design.md §3.4) from `bdk search` flags and a pipeline's
 * `search` keys: `custom` needs its three weights, flags and keys give the same config, an explicit λ
 * reaches the objective, and a config without λ keys is stored and searched as before they existed.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadChainState } from '../../src/core/chain-state.js';
import { Rng } from '../../src/core/rng.js';
import { buildProgram } from '../../src/cli/program.js';
import { parsePipeline } from '../../src/pipeline/load.js';
import { searchConfigFor } from '../../src/pipeline/search-splits.js';
import { prepareBuiltin } from '../../src/stages/prepare.js';
import {
  searchMetaparameters,
  searchStructure,
  type SearchConfig,
  type SearchSummary,
} from '../../src/stages/search.js';
import { searchConfigFrom, type SearchInput } from '../../src/stages/search-config.js';
import { BUILTIN_SPACES, analyzeSpace } from '../../src/search/space.js';
import { initialParameters, supernetLayout } from '../../src/search/supernet.js';
import { presetMetaparameters, upperObjective, type ObjectiveContext } from '../../src/search/objective.js';
import { runSearch, type SearchData } from '../../src/search/train-search.js';
import { bdk, expectOneLineError, tempDir } from '../helpers.js';

// `bdk search` in this process hands its config to this spy instead of searching.
vi.mock('../../src/stages/search.js', async (importOriginal) => {
  const mod = await importOriginal<typeof import('../../src/stages/search.js')>();
  return { ...mod, searchStructure: vi.fn(mod.searchStructure) };
});

let dir: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await tempDir();
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** The config `bdk search <args>` hands to the stage. */
async function cliConfig(args: string[]): Promise<SearchConfig> {
  let captured: SearchConfig | null = null;
  vi.mocked(searchStructure).mockImplementationOnce(async (config) => {
    captured = config;
    return { runDir: dir, completed: true, summary: {} as SearchSummary };
  });
  const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    await buildProgram().parseAsync(['search', ...args, '--backend', 'cpu', '--json'], { from: 'user' });
  } finally {
    write.mockRestore();
  }
  return captured!;
}

const message = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    return (err as Error).message;
  }
  return '(no error)';
};

describe('the λ of the search objective', () => {
  it('preset custom without its three weights is a one-line error naming the missing ones', async () => {
    const env = { BDK_DATA_DIR: path.join(dir, 'data'), BDK_RUNS_DIR: path.join(dir, 'runs') };
    const base = [
      'search',
      '--objective',
      'labels',
      '--dataset',
      'boston',
      '--run',
      'c',
      '--preset',
      'custom',
    ];
    const none = bdk(base, env);
    expect(none.code).toBe(1);
    expect(expectOneLineError(none)).toBe(
      'bdk: --preset custom needs --lambda-l-prior, --lambda-q-lik and --lambda-q-prior (the λ of docs/design.md §3)',
    );
    const one = bdk([...base, '--lambda-q-lik', '1', '--lambda-l-prior', '0'], env);
    expect(one.code).toBe(1);
    expect(expectOneLineError(one)).toBe(
      'bdk: --preset custom needs --lambda-q-prior (the λ of docs/design.md §3)',
    );

    const pipeline = { name: 'p', dataset: { name: 'boston' } };
    const search = { space: 'mlp', objective: 'labels', epochs: 1, preset: 'custom' };
    expect(message(() => parsePipeline({ ...pipeline, search }, 'p.json'))).toBe(
      'p.json: search.lambdaLPrior: preset "custom" needs lambdaLPrior, lambdaQLik and lambdaQPrior (the λ of docs/design.md §3)',
    );
    expect(
      message(() => parsePipeline({ ...pipeline, search: { ...search, lambdaLPrior: 1 } }, 'p.json')),
    ).toBe(
      'p.json: search.lambdaQLik: preset "custom" needs lambdaQLik and lambdaQPrior (the λ of docs/design.md §3)',
    );
    // `bdk run` refuses it before any stage runs.
    const file = path.join(dir, 'custom.json');
    await fs.writeFile(file, JSON.stringify({ ...pipeline, search }));
    const run = bdk(['run', file, '--dry-run'], env);
    expect(run.code).toBe(1);
    expect(expectOneLineError(run)).toBe(
      `bdk: ${file}: search.lambdaLPrior: preset "custom" needs lambdaLPrior, lambdaQLik and lambdaQPrior (the λ of docs/design.md §3)`,
    );
    // The library builder refuses it too, and a named preset needs no λ.
    expect(message(() => searchConfigFrom({ preset: 'custom', lambdaQPrior: 0 }))).toBe(
      'search preset "custom" needs lambdaLPrior and lambdaQLik (the λ of docs/design.md §3)',
    );
    expect(searchConfigFrom({ preset: 'maximum-likelihood' }).preset).toBe('maximum-likelihood');
  });

  it('the flags and the pipeline keys give the same config, λ keys in one order', async () => {
    const fromCli = await cliConfig([
      '--objective',
      'labels',
      '--dataset',
      'boston',
      '--run',
      'same',
      '--epochs',
      '3',
      '--preset',
      'custom',
      '--lambda-l-prior',
      '0.5',
      '--lambda-q-lik',
      '2',
      '--lambda-q-prior',
      '0.25',
      '--lambda-struct',
      'cheapest=1, uniform=-0.5',
      '--ard-shape',
      '0.1',
      '--ard-rate',
      '0.2',
      '--single-level',
    ]);
    const config = parsePipeline(
      {
        name: 'same',
        dataset: { name: 'boston' },
        search: {
          space: 'mlp',
          objective: 'labels',
          epochs: 3,
          preset: 'custom',
          singleLevel: true,
          ardRate: 0.2,
          ardShape: 0.1,
          lambdaStruct: { uniform: -0.5, cheapest: 1 },
          lambdaQPrior: 0.25,
          lambdaQLik: 2,
          lambdaLPrior: 0.5,
        },
      },
      'p.json',
    );
    const fromPipeline = searchConfigFor(config, 0);
    expect(JSON.stringify(fromCli)).toBe(JSON.stringify(fromPipeline));
    expect(fromPipeline).toMatchObject({
      preset: 'custom',
      klWeight: 1,
      lambdaLPrior: 0.5,
      lambdaQLik: 2,
      lambdaQPrior: 0.25,
      lambdaStruct: { uniform: -0.5, cheapest: 1 },
      ardShape: 0.1,
      ardRate: 0.2,
      singleLevel: true,
      trainRows: null,
    });
    const keys = Object.keys(fromPipeline);
    expect(keys.slice(keys.indexOf('klWeight'), keys.indexOf('trainRows') + 1)).toEqual([
      'klWeight',
      'lambdaLPrior',
      'lambdaQLik',
      'lambdaQPrior',
      'lambdaStruct',
      'ardShape',
      'ardRate',
      'singleLevel',
      'trainRows',
    ]);
    expect(Object.keys(fromPipeline.lambdaStruct!)).toEqual(['uniform', 'cheapest']);
    // Without λ flags or keys the config has none of these keys: stored configs stay as they were.
    const plain = await cliConfig(['--objective', 'labels', '--dataset', 'boston', '--run', 'plain']);
    expect(Object.keys(plain)).toEqual([
      'dataset',
      'split',
      'space',
      'objective',
      'teacher',
      'relaxation',
      'preset',
      'hypergradient',
      'epochs',
      'batchSize',
      'learningRate',
      'hyperLearningRate',
      'temperatureStart',
      'temperatureEnd',
      'pruneThreshold',
      'sizePenalty',
      'klWeight',
      'trainRows',
      'widths',
      'activations',
      'seed',
    ]);
    expect(JSON.stringify(plain)).toBe(
      JSON.stringify(
        searchConfigFor(
          parsePipeline(
            {
              name: 'x',
              dataset: { name: 'boston' },
              search: { space: 'mlp', objective: 'labels', epochs: 50 },
            },
            'p.json',
          ),
          0,
        ),
      ),
    );
  });

  it('an explicit λ replaces the preset’s, β still multiplies the KL weights', () => {
    const meta = (input: SearchInput) => searchMetaparameters(searchConfigFrom(input), 100, 1000);
    // Without λ: the preset's values, as before the λ existed.
    expect(meta({ klWeight: 0.1 })).toEqual(
      presetMetaparameters('evidence', { size: (0.05 * 100) / 1000, lPrior: 0.1, qPrior: 0.1 }),
    );
    expect(meta({ preset: 'evidence', lambdaQLik: 3, lambdaLPrior: 0.5, klWeight: 0.5 })).toMatchObject({
      lPrior: 0.25,
      qLik: 3,
      qPrior: 0.5,
      references: [],
      singleLevel: false,
    });
    expect(
      meta({
        preset: 'single-level',
        lambdaStruct: { cheapest: 2, uniform: -1 },
        ardShape: 0.5,
        ardRate: 2,
        singleLevel: false,
      }),
    ).toMatchObject({
      lPrior: 1,
      qLik: 1,
      qPrior: 1,
      references: [
        { structure: 'uniform', weight: -1 },
        { structure: 'cheapest', weight: 2 },
      ],
      lambda1: 0.5,
      lambda2: 2,
      singleLevel: false,
    });
    // custom with λ^L_prior = λ^Q_prior = 0 is the maximum-likelihood preset.
    expect(meta({ preset: 'custom', lambdaLPrior: 0, lambdaQLik: 1, lambdaQPrior: 0 })).toEqual(
      meta({ preset: 'maximum-likelihood' }),
    );
  });

  it('with λ^Q_lik = λ^Q_prior = 0, Q’s gradient in the logits is the closed form of −λ^Q_struct·KL(softmax s ‖ p′), and the search moves to p′', async () => {
    const w = 2;
    const sa = analyzeSpace(
      BUILTIN_SPACES.mlp.build({ input: [3], outputUnits: 2 }, { widths: [2, 4], activations: ['tanh'] }),
    );
    const layout = supernetLayout(sa);
    const config = searchConfigFrom({
      preset: 'custom',
      lambdaLPrior: 1,
      lambdaQLik: 0,
      lambdaQPrior: 0,
      lambdaStruct: { cheapest: w },
      sizePenalty: 0,
    });
    const meta = searchMetaparameters(config, 40, 1000);
    expect(meta.references).toEqual([{ structure: 'cheapest', weight: w }]);
    const rng = new Rng(5);
    const { theta, h } = initialParameters(layout, rng);
    const x = tf.tensor2d(
      Float32Array.from({ length: 8 * 3 }, () => rng.normal()),
      [8, 3],
    );
    const y = tf.tensor1d(Float32Array.from({ length: 8 }, () => rng.normal()));
    const ctx: ObjectiveContext = {
      layout,
      meta,
      task: 'regression',
      objective: 'labels',
      n: 40,
      gammas: (hh) => layout.logits.map((li) => (li === null ? null : (tf.softmax(hh[li]) as tf.Tensor1D))),
    };
    const grads = tf.grads((...hh: tf.Tensor[]) => upperObjective(ctx, theta, hh, { x, y }))(h);
    const cheapest = layout.logits.map((li, ei) =>
      li === null ? -1 : sa.choiceParams[ei].indexOf(Math.min(...sa.choiceParams[ei])),
    );
    let searchable = 0;
    layout.logits.forEach((li, ei) => {
      if (li === null) return;
      searchable++;
      const s = h[li].dataSync();
      expect(Array.from(s)).toEqual(new Array(s.length).fill(0)); // logits start at 0: softmax is uniform
      const K = s.length;
      const ref = Array.from({ length: K }, (_, k) => (k === cheapest[ei] ? 0.99 : 0.01 / (K - 1)));
      const kl = ref.reduce((a, r) => a + (1 / K) * (Math.log(1 / K) - Math.log(r)), 0);
      // ∂KL(softmax s ‖ r)/∂s_k = p_k (log p_k − log r_k − KL), at p = 1/K.
      const expected = ref.map((r) => (-w / K) * (Math.log(1 / K) - Math.log(r) - kl));
      const got = Array.from(grads[li].dataSync());
      got.forEach((g, k) => expect(g).toBeCloseTo(expected[k], 5));
      expect(got[cheapest[ei]]).toBeGreaterThan(0);
    });
    expect(searchable).toBeGreaterThan(2);
    tf.dispose([...theta, ...h, ...grads, x, y]);

    // A short search with these λ: every searchable edge's logits end at the cheapest candidate.
    const part = (n: number) => ({
      x: Float32Array.from({ length: n * 3 }, () => rng.normal()),
      y: Float32Array.from({ length: n }, () => rng.normal()),
      rows: n,
    });
    const data: SearchData = {
      task: 'regression',
      objective: 'labels',
      exampleShape: [3],
      train: part(40),
      validation: part(20),
    };
    const values = await runSearch(
      layout,
      data,
      {
        relaxation: 'gumbel-softmax',
        hypergradient: 'first-order',
        epochs: 2,
        batchSize: 10,
        learningRate: 0.01,
        hyperLearningRate: 0.05,
        temperature: { start: 1, end: 0.5 },
        pruneThreshold: 0.9,
        seed: 3,
      },
      meta,
    );
    layout.logits.forEach((li, ei) => {
      if (li === null) return;
      const s = Array.from(values!.h[li]);
      expect(s.indexOf(Math.max(...s)), `edge ${ei}`).toBe(cheapest[ei]);
      expect(s[cheapest[ei]]).toBeGreaterThan(0.3); // 8 Adam steps of about 0.05 each
    });
  });

  it('custom with λ^L_prior = λ^Q_prior = 0 searches bit for bit as the maximum-likelihood preset', async () => {
    const dataDir = path.join(dir, 'data');
    const runsDir = path.join(dir, 'runs');
    await prepareBuiltin('boston', {}, { dir: dataDir });
    const base: SearchInput = {
      dataset: 'boston',
      objective: 'labels',
      epochs: 2,
      batchSize: 20,
      trainRows: 60,
      sizePenalty: 0,
      widths: [4],
      activations: ['tanh'],
    };
    // What the search computed: the architecture (its name aside), the trace, and θ, h and Adam's state.
    const files = async (run: string, input: SearchInput) => {
      await searchStructure(searchConfigFrom({ ...base, ...input }), { run, dataDir, runsDir });
      const read = (f: string) => fs.readFile(path.join(runsDir, run, f), 'utf8');
      const state = await loadChainState(path.join(runsDir, run, 'search-state.bin'));
      return {
        config: JSON.parse(await read('search-config.json')),
        outputs: [
          (await read('arch.json')).replaceAll(`"${run}-searched"`, '"searched"'),
          await read('search-trace.json'),
          ...Object.entries(state.arrays).map(
            ([k, a]) => `${k} ${Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex')}`,
          ),
        ],
      };
    };
    const ml = await files('ml', { preset: 'maximum-likelihood' });
    const custom = await files('custom', {
      preset: 'custom',
      lambdaLPrior: 0,
      lambdaQLik: 1,
      lambdaQPrior: 0,
    });
    const evidence = await files('evidence', { preset: 'evidence' });
    expect(custom.outputs).toEqual(ml.outputs);
    expect(evidence.outputs[1]).not.toEqual(ml.outputs[1]); // the λ do reach the search
    expect(custom.config).toMatchObject({
      preset: 'custom',
      lambdaLPrior: 0,
      lambdaQLik: 1,
      lambdaQPrior: 0,
    });
    expect(Object.keys(ml.config).filter((k) => k.startsWith('lambda'))).toEqual([]);
  });
});
