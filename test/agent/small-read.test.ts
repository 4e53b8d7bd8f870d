import { describe, it, expect, beforeEach, afterEach, vi } from 'vitest';
import fs, { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync, openSync, constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { syncBuiltinESMExports } from 'node:module';
import { readSmallFile, assertUnchanged, ReadBuffer } from '../../agent/ship-batch.ts';
import { SourceChangedError, UnreadableSourceError } from '../../core/errors.ts';
import type { FileStamp } from '../../agent/journal.ts';

// Small recordings and sidecars are read whole with synchronous calls; the guarantees of the
// streamed path hold: exactly the scanned bytes, links never followed, errors classified.

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-small-read-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function fileWith(name: string, body: Buffer): { path: string; stamp: FileStamp } {
  const path = join(dir, name);
  writeFileSync(path, body);
  const st = statSync(path);
  return { path, stamp: { name, size: st.size, mtimeMs: Math.trunc(st.mtimeMs) } };
}

describe('reading a small file whole', () => {
  it('returns exactly the bytes of a file that still has its scanned size', () => {
    const body = Buffer.from('RIFF....WAVEfmt '.repeat(2000));
    const { path, stamp } = fileWith('a.wav', body);
    expect(readSmallFile({}, path, stamp).equals(body)).toBe(true);
  });

  it('reads a file that has its scanned size with one read call (none to look for its end)', () => {
    const body = Buffer.alloc(30_044, 7);
    const { path, stamp } = fileWith('a.wav', body);
    const reads = vi.spyOn(fs, 'readSync');
    syncBuiltinESMExports();
    try {
      expect(readSmallFile({}, path, stamp).equals(body)).toBe(true);
      expect(reads).toHaveBeenCalledTimes(1);
      // It asked for a byte more than scanned: a file that grew since the fstat shows it.
      expect((reads.mock.calls[0] as unknown[] | undefined)?.[3]).toBe(30_045);
    } finally {
      reads.mockRestore();
      syncBuiltinESMExports();
    }
  });

  it('reads a small file with open, one read and close: no fstat (the read itself checks the size)', () => {
    const body = Buffer.alloc(30_044, 9);
    const { path, stamp } = fileWith('a.wav', body);
    const fstats = vi.spyOn(fs, 'fstatSync');
    syncBuiltinESMExports();
    try {
      expect(readSmallFile({}, path, stamp).equals(body)).toBe(true);
      expect(fstats).not.toHaveBeenCalled();
    } finally {
      fstats.mockRestore();
      syncBuiltinESMExports();
    }
  });

  it('refuses a name that holds a directory now, not the file scanned, with SourceChangedError', () => {
    const { path, stamp } = fileWith('a.wav', Buffer.alloc(100, 6));
    rmSync(path);
    mkdirSync(path);
    expect(() => readSmallFile({}, path, stamp)).toThrow(SourceChangedError);
    expect(() => readSmallFile({}, path, stamp)).toThrow(/is no longer a regular file \(EISDIR\)/);
  });

  it("reads one pack's files through one buffer, each returned as exactly its own bytes, each asking a byte more than scanned", () => {
    const reads = new ReadBuffer();
    const big = fileWith('big.wav', Buffer.alloc(70_000, 1));
    const small = fileWith('small.wav', Buffer.from('RIFF small one'));
    const grown = fileWith('grown.wav', Buffer.alloc(3000, 2));
    writeFileSync(grown.path, Buffer.alloc(3001, 2));
    const calls = vi.spyOn(fs, 'readSync');
    syncBuiltinESMExports();
    try {
      const first = readSmallFile({}, big.path, big.stamp, reads);
      expect(first.equals(Buffer.alloc(70_000, 1))).toBe(true);
      const second = readSmallFile({}, small.path, small.stamp, reads);
      expect(second.toString()).toBe('RIFF small one');
      // The same memory: the first file's bytes are gone once the second is read into it.
      expect(second.buffer).toBe(first.buffer);
      expect(calls.mock.calls.map((c) => (c as unknown[])[3])).toEqual([70_001, 15]);
      expect(() => readSmallFile({}, grown.path, grown.stamp, reads)).toThrow(SourceChangedError);
    } finally {
      calls.mockRestore();
      syncBuiltinESMExports();
    }
  });

  it('refuses a file that grew since the scan with SourceChangedError', () => {
    const { path, stamp } = fileWith('a.wav', Buffer.alloc(3000, 1));
    writeFileSync(path, Buffer.alloc(3001, 1));
    expect(() => readSmallFile({}, path, stamp)).toThrow(SourceChangedError);
  });

  it('refuses a file that shrank since the scan with SourceChangedError', () => {
    const { path, stamp } = fileWith('a.wav', Buffer.alloc(3000, 1));
    writeFileSync(path, Buffer.alloc(10, 1));
    expect(() => readSmallFile({}, path, stamp)).toThrow(/changed size since it was scanned \(3000 → 10\)/);
  });

  it('does not follow a recording replaced by a symbolic link', () => {
    const target = fileWith('elsewhere.wav', Buffer.alloc(100, 2));
    const path = join(dir, 'a.wav');
    symlinkSync(target.path, path);
    expect(() => readSmallFile({}, path, { ...target.stamp, name: 'a.wav' })).toThrow(/became a symbolic link; not followed/);
  });

  it('reports a file that disappeared as changed, and one the system refuses as unreadable', () => {
    const { path, stamp } = fileWith('a.wav', Buffer.alloc(100, 3));
    rmSync(path);
    expect(() => readSmallFile({}, path, stamp)).toThrow(SourceChangedError);
    const denied = fileWith('b.wav', Buffer.alloc(100, 3));
    const openFileSync = () => {
      throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    };
    expect(() => readSmallFile({ openFileSync }, denied.path, denied.stamp)).toThrow(UnreadableSourceError);
  });

  it('opens through the injected synchronous opener, read-only and without following links', () => {
    const { path, stamp } = fileWith('a.wav', Buffer.alloc(100, 4));
    const flags: number[] = [];
    readSmallFile({ openFileSync: (p, f) => (flags.push(f), openSync(p, f)) }, path, stamp);
    expect(flags).toHaveLength(1);
    expect(flags[0]! & constants.O_NOFOLLOW).toBe(constants.O_NOFOLLOW);
    expect(flags[0]! & (constants.O_WRONLY | constants.O_RDWR)).toBe(0);
  });

  it('the check before commit refuses a file whose mtime changed', () => {
    const { path, stamp } = fileWith('a.wav', Buffer.alloc(100, 5));
    expect(() => assertUnchanged(path, stamp)).not.toThrow();
    expect(() => assertUnchanged(path, { ...stamp, mtimeMs: stamp.mtimeMs - 5000 })).toThrow(/changed while its batch was packed/);
  });
});
