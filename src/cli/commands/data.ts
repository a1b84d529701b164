import type { Command } from 'commander';
import { promises as fs } from 'node:fs';
import { dataDir } from '../../core/paths.js';
import { readDataset } from '../../data/arrow-dataset.js';
import { describeDataset, type SaveResult } from '../../data/store.js';
import { rangeSize, type SplitsFile } from '../../data/splits.js';
import type { TargetTransform } from '../../data/target-transform.js';
import { importTable, prepareBuiltin, type SplitOverrides } from '../../stages/prepare.js';
import {
  addJsonOption,
  addSplitOptions,
  parseImageShape,
  parseInteger,
  parseList,
  printJson,
} from '../options.js';

interface SplitFlags {
  seed?: number;
  splits?: number;
  testFraction?: number;
  validationFraction?: number;
  targetTransform?: TargetTransform;
  standardize?: 'none' | 'per-channel';
  force?: boolean;
  json?: boolean;
}

function overridesOf(o: SplitFlags): SplitOverrides {
  return {
    seed: o.seed,
    count: o.splits,
    testFraction: o.testFraction,
    validationFraction: o.validationFraction,
    targetTransform: o.targetTransform,
    standardize: o.standardize,
  };
}

/**
 * `--target-transform` on `data prepare`/`data import` is a deprecated alias: the transform is the
 * teacher's. It still records the dataset's default for teachers that set none; one notice on stderr,
 * which says whether the default was recorded (an existing dataset keeps its own without `--force`).
 */
function noticeDeprecatedTransform(o: SplitFlags, command: string, saved: SaveResult): void {
  if (o.targetTransform === undefined) return;
  const recorded = saved.splits.targetTransform ?? 'none';
  const what =
    recorded === o.targetTransform
      ? `recorded as the dataset's default (${recorded}) for teachers that set none`
      : `not recorded: ${saved.file} already exists with default ${recorded}, left as it is (--force records ${o.targetTransform})`;
  console.error(
    `bdk: --target-transform on ${command} is deprecated: the target transform belongs to the teacher (bdk sample --target-transform log, or teacher.targetTransform in a pipeline); ${what}`,
  );
}

function partSizes(splits: SplitsFile, k = 0) {
  const s = splits.splits[k];
  return { train: rangeSize(s.train), validation: rangeSize(s.validation), test: rangeSize(s.test) };
}

function reportSaved(result: SaveResult, json?: boolean): void {
  const sizes = partSizes(result.splits);
  if (json) {
    return printJson({
      status: result.status,
      file: result.file,
      splitsFile: result.splitsFile,
      meta: result.meta,
      splits: {
        protocol: result.splits.protocol,
        count: result.splits.count,
        seed: result.splits.seed,
        sizes,
      },
    });
  }
  const verb = result.status === 'unchanged' ? 'up to date:' : 'wrote';
  console.log(
    `${verb} ${result.file} (${result.meta.rows} rows, ${result.meta.featureCount} features, ${result.meta.task}); ` +
      `${result.splits.count} split${result.splits.count > 1 ? 's' : ''} (train ${sizes.train} / validation ${sizes.validation} / test ${sizes.test})`,
  );
}

export function registerData(program: Command): void {
  const data = program
    .command('data')
    .description('prepare, import and inspect datasets (Arrow files under the data folder)');

  const prepare = data
    .command('prepare')
    .description(
      'convert a built-in dataset to Arrow with its splits: boston (UCI protocol, 20 splits), mnist (50k/10k/10k) or cifar10 (45k/5k/10k, from the official binary batches)',
    )
    .argument('<dataset>', 'boston | mnist | cifar10')
    .option('--from <dir>', 'cifar10: the folder of the binary batches (data_batch_1.bin … test_batch.bin)');
  addSplitOptions(prepare);
  addJsonOption(prepare);
  prepare.action(async (name: string, o: SplitFlags & { from?: string }) => {
    const saved = await prepareBuiltin(name, overridesOf(o), { force: o.force }, { from: o.from });
    noticeDeprecatedTransform(o, 'data prepare', saved);
    reportSaved(saved, o.json);
  });

  const imp = data
    .command('import')
    .description('import your own CSV or Arrow file (numeric columns), or IDX images, as a dataset')
    .argument('<file>', 'a .csv file with a header row, an Arrow IPC file (.arrow), or an IDX image file')
    .requiredOption('--name <name>', 'dataset name (file name under the data folder)')
    .requiredOption('--target <column>', 'the column to predict')
    .requiredOption('--task <task>', 'regression | classification')
    .option(
      '--features <columns>',
      'comma-separated feature columns (default: every column but the target)',
      parseList,
    )
    .option('--classes <k>', 'number of classes K when some of 0..K-1 are absent', parseInteger(2))
    .option('--labels <file>', 'IDX image data: the IDX file of the labels (e.g. train-labels-idx1-ubyte)')
    .option(
      '--image-shape <h,w,c>',
      'the feature columns are image pixels 0..255, row-major height × width × channels (e.g. 32,32,3)',
      parseImageShape,
    );
  addSplitOptions(imp);
  addJsonOption(imp);
  imp.action(
    async (
      file: string,
      o: SplitFlags & {
        name: string;
        target: string;
        task: string;
        features?: string[];
        classes?: number;
        imageShape?: [number, number, number];
        labels?: string;
      },
    ) => {
      if (o.task !== 'regression' && o.task !== 'classification') {
        throw new (await import('../../core/errors.js')).UserError(
          `--task must be regression or classification, got '${o.task}'`,
        );
      }
      const result = await importTable(
        {
          file,
          name: o.name,
          target: o.target,
          task: o.task,
          features: o.features,
          classes: o.classes,
          imageShape: o.imageShape,
          labels: o.labels,
        },
        overridesOf(o),
        { force: o.force },
      );
      noticeDeprecatedTransform(o, 'data import', result);
      reportSaved(result, o.json);
    },
  );

  const info = data
    .command('info')
    .description('show rows, columns, task, source, checksum and splits of a prepared dataset')
    .argument('<name>', 'dataset name')
    .option('--verify', 'read every row and verify the content checksum');
  addJsonOption(info);
  info.action(async (name: string, o: { verify?: boolean; json?: boolean }) => {
    const d = await describeDataset(name);
    if (o.verify) await readDataset(d.file);
    const s = d.splits;
    const sizes = partSizes(s);
    if (o.json) {
      return printJson({
        name,
        file: d.file,
        bytes: d.bytes,
        verified: Boolean(o.verify),
        meta: d.meta,
        splits: {
          protocol: s.protocol,
          count: s.count,
          seed: s.seed,
          testFraction: s.testFraction,
          validationFraction: s.validationFraction,
          targetTransform: s.targetTransform ?? 'none',
          sizes,
        },
      });
    }
    const m = d.meta;
    const cols = m.imageShape ? `pixels ${m.imageShape.join('×')} uint8` : m.features.join(', ');
    console.log(
      [
        `dataset:  ${m.name} (${d.file}, ${(d.bytes / 1024).toFixed(1)} KiB)`,
        `task:     ${m.task}${m.classCount ? `, ${m.classCount} classes` : ''}; target ${m.target}${s.targetTransform ? ` (teachers' default: ${s.targetTransform} ${m.target})` : ''}`,
        `rows:     ${m.rows}`,
        `columns:  ${m.featureCount} features (${cols}) + target`,
        `source:   ${m.source}`,
        `checksum: ${m.checksum}${o.verify ? ' (verified)' : ''}`,
        `splits:   ${s.protocol}, ${s.count} split${s.count > 1 ? 's' : ''}, seed ${s.seed}: train ${sizes.train} / validation ${sizes.validation} / test ${sizes.test}`,
      ].join('\n'),
    );
  });

  const list = data.command('list').description('list the prepared datasets in the data folder');
  addJsonOption(list);
  list.action(async (o: { json?: boolean }) => {
    const dir = dataDir();
    const files = await fs.readdir(dir).catch(() => [] as string[]);
    const names = files.filter((f) => f.endsWith('.arrow')).map((f) => f.slice(0, -'.arrow'.length));
    const rows = [];
    for (const name of names.sort()) {
      try {
        const d = await describeDataset(name);
        rows.push({
          name,
          task: d.meta.task,
          rows: d.meta.rows,
          features: d.meta.featureCount,
          splits: d.splits.count,
          ok: true,
        });
      } catch (err) {
        rows.push({ name, error: (err as Error).message, ok: false });
      }
    }
    if (o.json) return printJson(rows);
    if (rows.length === 0) return console.log(`no datasets in ${dir}`);
    for (const r of rows) {
      console.log(
        r.ok
          ? `${r.name}\t${r.task}\t${r.rows} rows\t${r.features} features\t${r.splits} splits`
          : `${r.name}\tunreadable: ${r.error}`,
      );
    }
  });
}
