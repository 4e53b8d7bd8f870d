import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { constants, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig } from '../../core/config.ts';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { SMALL_RECORDING_BYTES } from '../../agent/ship-batch.ts';
import { writeTree } from '../support/recorder-tree.ts';
import { freshImport } from '../support/file-isolation.ts';

// The agent reads the recorder's files without changing their access times (O_NOATIME, as the
// share's files are read), and where it may not ask for that (EPERM: not the files' owner, not
// root) it reads them all the same.

const DAY = 86_400;
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-rec-noatime-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const isEperm = (flags: number) => (flags & constants.O_NOATIME) !== 0;
const eperm = () => Object.assign(new Error('EPERM: operation not permitted'), { code: 'EPERM' });

describe('recordings: access times', () => {
  it('ships recordings and sidecars, read whole or streamed, leaving their access times as they were (relatime would have moved them)', async () => {
    expect(constants.O_NOATIME).toBeGreaterThan(0);
    const root = join(dir, 'rec');
    mkdirSync(root);
    writeTree(root, 1, 10);
    writeTree(root, 1, 10, { firstBatch: 2, size: SMALL_RECORDING_BYTES + 4096 }); // above the whole-read size: streamed
    // An access time older than a day, and older than the mtime: a read under relatime moves it.
    const now = Math.floor(Date.now() / 1000);
    const files = readdirSync(root).flatMap((batch) => readdirSync(join(root, batch)).map((name) => join(root, batch, name)));
    expect(files).toHaveLength(40);
    for (const f of files) utimesSync(f, now - 3 * DAY, now - 2 * DAY);
    const before = files.map((f) => statSync(f).atimeMs);
    const config = parseAgentConfig(`
site: site-a
state: ${join(dir, 'state')}
sources:
  - { name: cs, type: recordings, path: ${root}, closeAfterFiles: 10, quietSeconds: 60, settleSeconds: 1 }
`);
    const agent = new Agent({ config, store: new MemoryBlobStore(), clock: new ManualClock(new Date()), log: silentLogger, notifier: { notify: async () => undefined }, verify: 'read-back', retryDelayMs: () => 1 });
    try {
      expect(await agent.cycle()).toMatchObject({ packs: 2, recordings: 20, failed: 0, lost: 0 });
    } finally {
      agent.close();
    }
    expect(files.map((f) => statSync(f).atimeMs)).toEqual(before);
  });

  it('reads a small file it may not open with O_NOATIME (EPERM) without it, and stops asking for it', async () => {
    // A fresh copy of the modules: the refusal turns O_NOATIME off for the process, and test
    // files share their modules (isolate: false); the others keep reading with it.
    const { readSmallFile } = await freshImport(() => import('../../agent/ship-batch.ts'));
    const path = join(dir, 'theirs.wav');
    writeFileSync(path, 'the recorder user\'s file');
    const stamp = { name: 'theirs.wav', size: statSync(path).size, mtimeMs: Math.trunc(statSync(path).mtimeMs) };
    const asked: number[] = [];
    const openFileSync = (p: string, flags: number): number => {
      asked.push(flags);
      if (isEperm(flags)) throw eperm();
      return openSync(p, flags);
    };
    expect(readSmallFile({ openFileSync }, path, stamp).toString()).toBe('the recorder user\'s file');
    expect(asked.map(isEperm)).toEqual([true, false]);
    expect(readSmallFile({ openFileSync }, path, stamp).toString()).toBe('the recorder user\'s file');
    expect(asked.map(isEperm)).toEqual([true, false, false]);
  });

  it('opens a streamed file it may not open with O_NOATIME (EPERM) without it, and stops asking for it', async () => {
    const { openReadOnly } = await freshImport(() => import('../../agent/ship-batch.ts'));
    const path = join(dir, 'theirs.wav');
    writeFileSync(path, 'streamed');
    const asked: number[] = [];
    const openFile = async (p: string, flags: number) => {
      asked.push(flags);
      if (isEperm(flags)) throw eperm();
      return open(p, flags);
    };
    for (const want of [[true, false], [true, false, false]]) {
      const handle = await openReadOnly({ openFile }, path);
      expect((await handle.readFile()).toString()).toBe('streamed');
      await handle.close();
      expect(asked.map(isEperm)).toEqual(want);
    }
  });

  it('throws the refusal of a file it may not open at all (EPERM with or without O_NOATIME), and still asks for O_NOATIME for the next file', async () => {
    const { readSmallFile } = await freshImport(() => import('../../agent/ship-batch.ts'));
    const theirs = join(dir, 'locked.wav');
    const ours = join(dir, 'ours.wav');
    writeFileSync(theirs, 'locked');
    writeFileSync(ours, 'ours');
    const stampOf = (path: string, name: string) => ({ name, size: statSync(path).size, mtimeMs: Math.trunc(statSync(path).mtimeMs) });
    const asked: [string, boolean][] = [];
    const openFileSync = (p: string, flags: number): number => {
      asked.push([p === theirs ? 'locked' : 'ours', isEperm(flags)]);
      if (p === theirs) throw eperm();
      return openSync(p, flags);
    };
    expect(() => readSmallFile({ openFileSync }, theirs, stampOf(theirs, 'locked.wav'))).toThrow(/locked\.wav cannot be read \(EPERM\)/);
    expect(readSmallFile({ openFileSync }, ours, stampOf(ours, 'ours.wav')).toString()).toBe('ours');
    expect(asked).toEqual([['locked', true], ['locked', false], ['ours', true]]);
  });

  it('passes any other refusal on as it was, asking once', async () => {
    const { openReadOnly } = await freshImport(() => import('../../agent/ship-batch.ts'));
    const asked: number[] = [];
    const openFile = async (_p: string, flags: number): Promise<never> => {
      asked.push(flags);
      throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    };
    await expect(openReadOnly({ openFile }, join(dir, 'x.wav'))).rejects.toThrow(/cannot be read \(EACCES\)/);
    expect(asked.map(isEperm)).toEqual([true]);
  });
});
