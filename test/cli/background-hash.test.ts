import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BackgroundHash } from '../../cli/background-hash.ts';

describe('BackgroundHash (SHA-256 on a worker thread)', () => {
  it('gives the SHA-256 of the chunks in the order added, and starts afresh after each digest', async () => {
    const hash = new BackgroundHash();
    try {
      const a = [randomBytes(70_000), randomBytes(1), randomBytes(8 * 1024)];
      const b = [randomBytes(123)];
      hash.update(a.slice(0, 2));
      hash.update(a.slice(2));
      expect(await hash.digest()).toBe(createHash('sha256').update(Buffer.concat(a)).digest('hex'));
      hash.update(b);
      expect(await hash.digest()).toBe(createHash('sha256').update(b[0]!).digest('hex'));
    } finally {
      await hash.close();
    }
  });

  it('copies what it is given: bytes changed after update do not change the digest', async () => {
    const hash = new BackgroundHash();
    try {
      const chunk = Buffer.from('recording bytes');
      const expected = createHash('sha256').update(chunk).digest('hex');
      hash.update([chunk]);
      chunk.fill(0);
      expect(await hash.digest()).toBe(expected);
    } finally {
      await hash.close();
    }
  });

  it('refuses to hash after it was closed', async () => {
    const hash = new BackgroundHash();
    await hash.close();
    expect(() => hash.update([Buffer.from('x')])).toThrow(/closed/);
    await expect(hash.digest()).rejects.toThrow(/closed/);
  });
});
