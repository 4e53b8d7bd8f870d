import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IntegrityError, InvalidInputError } from '../../core/errors.ts';
import type { TreeEntry } from '../../core/tree-manifest.ts';
import { PartFile, WRITE_BATCH_BYTES } from '../../cli/tree-part-file.ts';

// A restored file's bytes arrive in socket-sized chunks and are written in batches: whatever
// the chunk sizes, what is renamed to the file's name is every byte in order, and a file whose
// bytes do not hash to the index's SHA-256 never takes its name.

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-part-file-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const entryOf = (content: Buffer, path: string): TreeEntry => ({
  path,
  type: 'file',
  mode: 0o644,
  mtime: '2026-03-02T02:00:00.000Z',
  size: content.length,
  sha256: createHash('sha256').update(content).digest('hex'),
});

/** Feeds `content` in chunks of varying sizes (1 byte to 70 KiB), as a socket would. */
async function feed(part: PartFile, content: Buffer): Promise<void> {
  const sizes = [1, 16_384, 65_536, 7, 71_680, 4096];
  for (let at = 0, i = 0; at < content.length; i++) {
    const n = Math.min(sizes[i % sizes.length]!, content.length - at);
    await part.write(content.subarray(at, at + n));
    at += n;
  }
}

describe('restored file written in batches', () => {
  it('writes every byte in order across many batches, and renames the .ferry-part only after its SHA-256 matched', async () => {
    const content = randomBytes(3 * WRITE_BATCH_BYTES + 12_345);
    const final = Buffer.from(join(dir, 'recording.wmv'));
    const part = await PartFile.open(entryOf(content, 'recording.wmv'), final);
    await feed(part, content);
    expect(existsSync(join(dir, 'recording.wmv'))).toBe(false);
    await part.commit();
    expect(readFileSync(join(dir, 'recording.wmv'))).toEqual(content);
    expect(existsSync(join(dir, 'recording.wmv.ferry-part'))).toBe(false);
  });

  it('refuses bytes that do not match the index with IntegrityError, and keeps nothing under the name', async () => {
    const content = randomBytes(WRITE_BATCH_BYTES + 1);
    const part = await PartFile.open(entryOf(content, 'damaged.bin'), Buffer.from(join(dir, 'damaged.bin')));
    const damaged = Buffer.from(content);
    damaged.writeUInt8(damaged.readUInt8(WRITE_BATCH_BYTES) ^ 0xff, WRITE_BATCH_BYTES);
    await feed(part, damaged);
    await expect(part.commit()).rejects.toBeInstanceOf(IntegrityError);
    expect(existsSync(join(dir, 'damaged.bin'))).toBe(false);
    expect(existsSync(join(dir, 'damaged.bin.ferry-part'))).toBe(false);
  });

  it('refuses a symbolic link planted at the .ferry-part (a name that is not UTF-8 too) and leaves its target untouched', async () => {
    const target = join(dir, 'outside.txt');
    writeFileSync(target, 'not yours');
    const final = Buffer.concat([Buffer.from(join(dir, 'caf')), Buffer.from([0xe9]), Buffer.from('.wav')]);
    symlinkSync(target, Buffer.concat([final, Buffer.from('.ferry-part')]));
    const content = Buffer.from('recording');
    const opened = PartFile.open(entryOf(content, 'caf\ufffd.wav'), final);
    await expect(opened).rejects.toBeInstanceOf(InvalidInputError);
    await expect(opened).rejects.toThrow(/refusing .*caf\ufffd\.wav\.ferry-part: it is a symbolic link, and is never followed/);
    expect(readFileSync(target, 'utf8')).toBe('not yours');
  });
});
