import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildFunctionBundles, bundleCacheKey } from '../../local/function-bundles.ts';

// The bundle cache is reused while a bundle's inputs are unchanged, and only for the checkout
// that built it: a second clone sharing node_modules (a link) must not run the first's bundles.

let dir: string;
const MARK = 'export const handler = "written by hand";\n';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-bundle-cache-'));
  await buildFunctionBundles(['lock'], { dir: join(dir, 'built') });
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A copy of the built cache whose lock bundle is replaced by MARK and stamped with `key`. */
function copyWith(name: string, key: string): string {
  const copy = join(dir, name);
  cpSync(join(dir, 'built'), copy, { recursive: true });
  const stampFile = join(copy, 'lock', 'inputs.json');
  const stamp = JSON.parse(readFileSync(stampFile, 'utf8')) as { key: string };
  writeFileSync(stampFile, JSON.stringify({ ...stamp, key }));
  writeFileSync(join(copy, 'lock', 'index.mjs'), MARK);
  return copy;
}

describe('the function bundle cache', () => {
  it('reuses a bundle this checkout built while its inputs are unchanged', async () => {
    const copy = copyWith('same-checkout', bundleCacheKey());
    const { lock } = await buildFunctionBundles(['lock'], { dir: copy });
    expect(readFileSync(lock, 'utf8')).toBe(MARK);
  });

  it("rebuilds a bundle another checkout built, though that checkout's inputs are unchanged", async () => {
    const copy = copyWith('other-checkout', bundleCacheKey('/srv/another-clone'));
    const { lock } = await buildFunctionBundles(['lock'], { dir: copy });
    const text = readFileSync(lock, 'utf8');
    expect(text).not.toBe(MARK);
    expect(text).toContain('handler');
  });
});
