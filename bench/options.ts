/** The command line of `npm run bench`: its sections, help text and flag parsing. */
import { parseArgs } from 'node:util';

export const SECTIONS = [
  'yardstick',
  'sgld',
  'distill',
  'conv',
  'ensemble',
  'chains',
  'pipelines',
  'serve',
] as const;
export type Section = (typeof SECTIONS)[number];
export const MNIST_TEST = 10_000;

/** The usage text of `--help`. */
export const HELP = `npm run bench -- [flags]     (or: node dist/bench/bench/run.js [flags] after building)

  --backend NAME          auto | tensorflow-gpu | tensorflow | wasm | cpu (default: BDK_BACKEND, else auto)
  --only LIST             comma-separated sections: ${SECTIONS.join(', ')}
                          (the yardstick always runs: every ratio needs it)
  --skip-pipelines        leave out section 'pipelines' (the bdk run child processes)
  --quick                 timed loops of 1 s instead of 3 s, ensemble cap 20 s instead of 60 s
  --ensemble-inputs N     inputs of the ensemble prediction (default 10000, the MNIST test set size)
  --ensemble-max-seconds T
                          cap on each timed ensemble prediction (default 60, 20 with --quick; 0: none;
                          none by default when --ensemble-inputs is given): when a calibration run says
                          all samples would take longer, the first k samples that fit (at least two
                          streamed chunks) are timed over all the inputs and the time is reported scaled
                          to all of them, labelled "scaled"
  --ensemble-samples LIST sample counts S of the ensemble prediction (default 100,1000)
  --chains LIST           chain counts C of the vectorized-chains section (default 1,8,32)
  --serve-seconds T       length of each load case of section 'serve' (default 10; 12 cases and a mixed run
                          per model, so the server's RSS is followed over about 7 × T s)
  --serve-boston-export DIR
  --serve-mnist-export DIR
                          real exports for section 'serve' (default: the mlp-50 and lenet5 architectures
                          with seeded random weights)
  --out FILE              where to write the JSON results (default bench/results.json)
  --help                  this text`;

/** Positive integers from a comma-separated flag value. */
export function numberList(flag: string, text: string): number[] {
  const xs = text.split(',').map((s) => Number(s.trim()));
  if (xs.some((x) => !Number.isInteger(x) || x <= 0))
    throw new Error(`${flag}: expected positive integers, got '${text}'`);
  return xs;
}

/** Seconds from a flag; 0 means no limit. */
export function seconds(flag: string, text: string): number {
  const v = Number(text);
  if (!(v >= 0)) throw new Error(`${flag}: expected a number of seconds ≥ 0, got '${text}'`);
  return v === 0 ? Infinity : v;
}

/** `--serve-seconds`: a whole number of seconds ≥ 1 (autocannon's duration). */
function servingSeconds(text: string): number {
  const v = Number(text);
  if (!Number.isInteger(v) || v < 1)
    throw new Error(`--serve-seconds: expected a whole number of seconds ≥ 1, got '${text}'`);
  return v;
}

/** The bench's flags, parsed and checked, with the sections to run and the ensemble settings resolved. */
export function parseOptions() {
  const { values } = parseArgs({
    options: {
      backend: { type: 'string' },
      only: { type: 'string' },
      'skip-pipelines': { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      'ensemble-inputs': { type: 'string' },
      'ensemble-max-seconds': { type: 'string' },
      'ensemble-samples': { type: 'string', default: '100,1000' },
      chains: { type: 'string', default: '1,8,32' },
      'serve-seconds': { type: 'string', default: '10' },
      'serve-boston-export': { type: 'string' },
      'serve-mnist-export': { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
      // Internal: the ensemble child process.
      child: { type: 'string' },
      samples: { type: 'string' },
      inputs: { type: 'string' },
      'max-seconds': { type: 'string' },
    },
    strict: true,
  });
  const only = values.only ? values.only.split(',').map((s) => s.trim()) : [...SECTIONS];
  for (const s of only)
    if (!(SECTIONS as readonly string[]).includes(s))
      throw new Error(`--only: unknown section '${s}': expected some of ${SECTIONS.join(', ')}`);
  const sections = new Set<Section>(only as Section[]);
  sections.add('yardstick');
  if (values['skip-pipelines']) sections.delete('pipelines');
  const quick = values.quick;
  const inputs = values['ensemble-inputs'];
  return {
    ...values,
    sections,
    quick,
    ensembleInputs: inputs ? numberList('--ensemble-inputs', inputs)[0] : MNIST_TEST,
    ensembleMaxSeconds: seconds(
      '--ensemble-max-seconds',
      values['ensemble-max-seconds'] ?? (inputs ? '0' : quick ? '20' : '60'),
    ),
    ensembleSamples: numberList('--ensemble-samples', values['ensemble-samples']),
    chainCounts: numberList('--chains', values.chains),
    serveSeconds: servingSeconds(values['serve-seconds']),
  };
}
