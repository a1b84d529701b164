import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The long end-to-end files, longest first. They start before everything else so that the workers of a
 * 2-core CI machine finish together, instead of one of them starting the 2-minute MNIST pipeline test
 * when the others are done (on a fresh clone vitest has no timings and orders files by size).
 */
const LONG_FIRST = [
  'tests/pipeline/mnist-quick.test.ts',
  'tests/cli/sample.test.ts',
  'tests/pipeline/run-jobs.test.ts',
  'tests/cli/cli.test.ts',
  'tests/package/pack.test.ts',
  'tests/distill/distill.test.ts',
];

class LongFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification) => {
      const i = LONG_FIRST.findIndex((p) => f.moduleId.replaceAll('\\', '/').endsWith(p));
      return i < 0 ? LONG_FIRST.length : i;
    };
    return sorted
      .map((f, i) => ({ f, i }))
      .sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i)
      .map(({ f }) => f);
  }
}

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    globalSetup: ['tests/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    sequence: { sequencer: LongFirstSequencer },
  },
});
