/** Chain-state files (src/core/chain-state.ts), which a resumed sampling run reads beside its samples. */
import { promises as fs } from 'node:fs';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { loadChainState, saveChainState } from '../../src/core/chain-state.js';
import { UserError } from '../../src/core/errors.js';
import { bitsEqual, useTempDir } from '../samples/fixtures.js';

const { dir, fresh } = useTempDir();

describe('chain state', () => {
  const meta = { step: 1234, rng: { s: [1, 2, 3, 4], cachedNormal: null }, samples: [10, 10, 9], note: 'ü' };
  const arrays = () => ({
    params: Float32Array.from({ length: 1001 }, (_, i) => Math.sin(i) * 1e3),
    momentum: new Float32Array(new Uint32Array([0x80000000, 0x7fc00001, 0x00000001, 0xff800000]).buffer),
    empty: new Float32Array(0),
    odd: Float32Array.of(1, 2, 3),
  });

  it('round-trips metadata and arrays bit for bit, replacing an older state', async () => {
    const file = path.join(dir(), 'state', 'chain.state');
    await fs.mkdir(path.dirname(file), { recursive: true });
    await saveChainState(file, { step: 1 }, { params: Float32Array.of(9) });
    await saveChainState(file, meta, arrays());
    const loaded = await loadChainState(file);
    expect(loaded.meta).toEqual(meta);
    const want = arrays();
    expect(Object.keys(loaded.arrays)).toEqual(Object.keys(want));
    for (const [name, a] of Object.entries(want)) {
      expect(bitsEqual(loaded.arrays[name], a), name).toBe(true);
    }
    expect(await fs.readdir(path.dirname(file))).toEqual(['chain.state']);
  });

  it('rejects any single corrupted byte', async () => {
    const file = fresh('corrupt.state');
    await saveChainState(file, meta, { a: Float32Array.of(1, 2, 3) });
    const whole = await fs.readFile(file);
    for (let at = 0; at < whole.length; at++) {
      const bad = Buffer.from(whole);
      bad[at] ^= 0x10;
      await fs.writeFile(file, bad);
      const err = await loadChainState(file).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, `byte ${at}`).toBeInstanceOf(UserError);
      expect((err as Error).message.startsWith(`${file}: `)).toBe(true);
    }
    const bad = Buffer.from(whole);
    bad[whole.length - 2] ^= 1;
    await fs.writeFile(file, bad);
    await expect(loadChainState(file)).rejects.toThrow(
      `${file}: corrupt chain-state file (checksum mismatch)`,
    );
  });

  it('rejects a truncated file at every length', async () => {
    const file = fresh('full.state');
    await saveChainState(file, meta, { a: Float32Array.of(1, 2, 3) });
    const whole = await fs.readFile(file);
    const cut = fresh('cut.state');
    for (let len = 0; len < whole.length; len++) {
      await fs.writeFile(cut, whole.subarray(0, len));
      await expect(loadChainState(cut), `length ${len}`).rejects.toThrow(/chain-state file is truncated/);
    }
  });

  it('reports a missing file and a file of another kind', async () => {
    const missing = path.join(dir(), 'missing.state');
    await expect(loadChainState(missing)).rejects.toThrow(new UserError(`${missing}: file not found`));
    const other = fresh('other.state');
    await fs.writeFile(other, 'hello world, this is not a state file at all........................');
    await expect(loadChainState(other)).rejects.toThrow(`${other}: not a bdk chain-state file`);
  });
});
