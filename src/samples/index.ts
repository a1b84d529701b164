/** Teacher sample storage: the Arrow IPC sample files, their reader and their writer. */
export {
  SAMPLES_FORMAT,
  SAMPLES_META_KEY,
  SAMPLES_VERSION,
  WEIGHT_DTYPES,
  weightBytes,
  type SampleBatch,
  type SampleRecord,
  type SampleScan,
  type SamplesMeta,
  type WeightDtype,
} from './format.js';
export { readAllSamples, readSamples, SampleRowReader, scanSamples } from './reader.js';
export { SampleWriter } from './writer.js';
export { fileSha256, scanShard, type ShardScan } from './shard-scan.js';
