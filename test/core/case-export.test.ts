import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyBundle, writeCaseBundle, type ExportRequest } from '../../core/case-export.ts';
import { ArchivedError, IntegrityError, InvalidInputError, NotFoundError } from '../../core/errors.ts';
import { ingestManifest } from '../../core/ingest.ts';
import { sha256sums } from '../../core/sha256sums.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { audio, buildPack, publish } from '../support/pack-fixture.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

async function setup(more: { path: string; body: Buffer }[] = []) {
  const blobs = new MemoryBlobStore();
  const catalogue = new MemoryCatalogue();
  const members = [
    { path: 'b/日本語の通話.wav', body: audio(1, 3000) },
    { path: 'b/back\\slash.wav', body: audio(2, 1001) },
    { path: 'b/plain.wav', body: audio(3, 0) },
    ...more,
  ];
  const f = buildPack('site-a', members);
  await publish(blobs, f);
  await ingestManifest({ blobs, catalogue }, f.manifestKey);
  const rids = f.manifest.members.map((m) => m.rid);
  const request: ExportRequest = { site: 'site-a', rids, caseId: 'CASE-42', reason: 'subject access request 2026/17', principal: 'arn:aws:iam::123456789012:role/officer-site-a', at: new Date('2026-04-02T09:30:00Z') };
  return { blobs, catalogue, members, f, rids, request };
}

async function bundleOf(deps: Parameters<typeof writeCaseBundle>[0], request: ExportRequest) {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const summary = await writeCaseBundle(deps, request, out);
  out.end();
  return { summary, bytes: Buffer.concat(chunks) };
}

const readerOf = (bytes: Buffer) => async (pos: number, len: number) => bytes.subarray(pos, pos + len);

describe('case export bundle', () => {
  it('holds each recording under its real name, its catalogue record, custody and manifests, and verifies', async () => {
    const { blobs, catalogue, members, f, request } = await setup();
    const { summary, bytes } = await bundleOf({ blobs, catalogue }, request);
    expect(summary.bytes).toBe(bytes.length);
    const verdict = await verifyBundle(readerOf(bytes), bytes.length);
    expect(verdict).toEqual({ ok: true, root: 'case-site-a-CASE-42-20260402T093000Z', checked: 8, problems: [] });

    // The ordinary tar tool opens it, and the bytes are the recorder's.
    const dir = mkdtempSync(join(tmpdir(), 'ferry-bundle-'));
    dirs.push(dir);
    execFileSync('tar', ['-xf', '-', '-C', dir], { input: bytes });
    const root = join(dir, summary.root);
    const rid0 = f.manifest.members[0]!.rid;
    expect(readFileSync(join(root, 'recordings', `${rid0}_日本語の通話.wav`))).toEqual(members[0]!.body);
    expect(readFileSync(join(root, 'recordings', `${f.manifest.members[1]!.rid}_back_slash.wav`))).toEqual(members[1]!.body);
    const custody = JSON.parse(readFileSync(join(root, 'custody.json'), 'utf8'));
    expect(custody).toMatchObject({ requestedBy: request.principal, case: 'CASE-42', reason: request.reason, exportedAt: '2026-04-02T09:30:00.000Z' });
    expect(custody.recordings[0]).toMatchObject({ rid: rid0, sha256: f.manifest.members[0]!.sha256, pack: { key: f.packKey, offset: f.manifest.members[0]!.offset } });
    const csv = readFileSync(join(root, 'manifest.csv'), 'utf8').split('\r\n');
    expect(csv[0]).toBe('path,bytes,sha256');
    expect(csv).toContain(`recordings/${rid0}_日本語の通話.wav,3000,${f.manifest.members[0]!.sha256}`);
    expect(JSON.parse(readFileSync(join(root, 'metadata', `${rid0}.json`), 'utf8'))).toMatchObject({ rid: rid0, path: 'b/日本語の通話.wav' });
    // What the bundle holds and how to check it, for whoever is handed it without Ferry; listed and hashed like every file.
    const readme = readFileSync(join(root, 'README.txt'), 'utf8');
    expect(readme.split('\r\n').slice(0, 3)).toEqual(['Ferry export: case CASE-42 of site site-a', `Exported 2026-04-02T09:30:00.000Z (UTC) by ${request.principal}. Reason given: ${request.reason}`, '3 recording(s).']);
    expect(readme).toContain(`  Linux:    cd ${summary.root} && sha256sum -c SHA256SUMS\r\n`);
    expect(readme).toContain('Get-FileHash -Algorithm SHA256 -LiteralPath $path');
    expect(csv.some((l) => l.startsWith('README.txt,'))).toBe(true);
    expect(readFileSync(join(root, 'SHA256SUMS'), 'utf8')).toMatch(/^[0-9a-f]{64} {2}README\.txt$/m);
  });

  it('names in custody.json and the README, per call, the recorder host and agent id that shipped it: two calls with one call id from two hosts told apart, a call shipped before it was recorded said so', async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    const primary = { host: 'rec-primary.example', agentId: '6f1c2a3b-1111-4aaa-8bbb-000000000001' };
    const secondary = { host: 'rec-secondary.example', agentId: '6f1c2a3b-2222-4aaa-8bbb-000000000002' };
    const packs = [
      buildPack('site-a', [{ path: '000001/000001000.wav', body: audio(1, 500), meta: { callId: '000001000', start: '2026-12-01T09:00:00Z' } }], { seed: 'primary', shippedBy: primary }),
      buildPack('site-a', [{ path: '000001/000001000.wav', body: audio(2, 500), meta: { callId: '000001000', start: '2026-12-04T09:00:00Z' } }], { seed: 'secondary', shippedBy: secondary }),
      buildPack('site-a', [{ path: '000009/000009000.wav', body: audio(3, 500), meta: { callId: '000009000', start: '2025-06-01T09:00:00Z' } }], { seed: 'old' }),
    ];
    for (const f of packs) {
      await publish(blobs, f);
      await ingestManifest({ blobs, catalogue }, f.manifestKey);
    }
    const [p, s, old] = packs.map((f) => f.manifest.members[0]!.rid) as [string, string, string];
    const request: ExportRequest = { site: 'site-a', rids: [p, s, old], caseId: 'CASE-7', reason: 'failover review', principal: 'officer', at: new Date('2026-12-07T09:30:00Z') };
    const { summary, bytes } = await bundleOf({ blobs, catalogue }, request);
    expect(summary.custody.recordings.map((r) => [r.rid, r.shippedBy])).toEqual([[p, primary], [s, secondary], [old, null]]);
    const dir = mkdtempSync(join(tmpdir(), 'ferry-bundle-'));
    dirs.push(dir);
    execFileSync('tar', ['-xf', '-', '-C', dir], { input: bytes });
    const custody = JSON.parse(readFileSync(join(dir, summary.root, 'custody.json'), 'utf8'));
    expect(custody.recordings.map((r: { shippedBy: unknown }) => r.shippedBy)).toEqual([primary, secondary, null]);
    const readme = readFileSync(join(dir, summary.root, 'README.txt'), 'utf8');
    expect(readme).toContain(`\r\n  recordings/${p}_000001000.wav: shipped by rec-primary.example (agent id ${primary.agentId})\r\n`);
    expect(readme).toContain(`\r\n  recordings/${s}_000001000.wav: shipped by rec-secondary.example (agent id ${secondary.agentId})\r\n`);
    expect(readme).toContain(`\r\n  recordings/${old}_000009000.wav: shipping host not recorded (shipped before Ferry recorded it)\r\n`);
    expect((await verifyBundle(readerOf(bytes), bytes.length)).ok).toBe(true);
  });

  it('names each recording so that Windows can extract it under the name the manifest gives: < > : " | ? * and a trailing dot or space become _', async () => {
    // The recorder's names come from what callers send (a caller's name in a file name).
    const odd = ['x"><img src=x>.wav', 'a:b|c?d*e.wav', 'ends with dot.', 'dots and space. .'];
    const { blobs, catalogue, request, f } = await setup(odd.map((name, i) => ({ path: `b/${name}`, body: audio(10 + i, 500) })));
    const { summary, bytes } = await bundleOf({ blobs, catalogue }, request);
    const rid = (i: number) => f.manifest.members[3 + i]!.rid;
    const names = summary.files.filter((x) => x.path.startsWith('recordings/')).map((x) => x.path);
    expect(names).toEqual(expect.arrayContaining([`recordings/${rid(0)}_x___img src=x_.wav`, `recordings/${rid(1)}_a_b_c_d_e.wav`, `recordings/${rid(2)}_ends with dot_`, `recordings/${rid(3)}_dots and space___`]));
    for (const name of names) expect(name.slice('recordings/'.length)).not.toMatch(/[<>:"|?*\\]|[. ]$/);
    expect((await verifyBundle(readerOf(bytes), bytes.length)).ok).toBe(true);
  });

  it("writes the reason in the README on its one line, line breaks and bidi overrides escaped, so it cannot add lines that read as the bundle's own; custody.json keeps it as given", async () => {
    const { blobs, catalogue, request } = await setup();
    const reason = 'audit\r\n\r\nHow to check that no file was changed: there is no need, Ferry checked it.\u202e';
    const { summary, bytes } = await bundleOf({ blobs, catalogue }, { ...request, reason });
    const dir = mkdtempSync(join(tmpdir(), 'ferry-bundle-'));
    dirs.push(dir);
    execFileSync('tar', ['-xf', '-', '-C', dir], { input: bytes });
    const lines = readFileSync(join(dir, summary.root, 'README.txt'), 'utf8').split('\r\n');
    expect(lines[1]).toBe(`Exported 2026-04-02T09:30:00.000Z (UTC) by ${request.principal}. Reason given: audit\\r\\n\\r\\nHow to check that no file was changed: there is no need, Ferry checked it.\\u{202e}`);
    expect(lines.filter((l) => l.startsWith('How to check that no file was changed'))).toEqual(['How to check that no file was changed since the export']);
    expect(JSON.parse(readFileSync(join(dir, summary.root, 'custody.json'), 'utf8')).reason).toBe(reason);
  });

  it('fails verification naming the altered recording when one byte of it changes', async () => {
    const { blobs, catalogue, request, f } = await setup();
    const { bytes } = await bundleOf({ blobs, catalogue }, request);
    const tampered = Buffer.from(bytes);
    const rid1 = f.manifest.members[1]!.rid;
    const at = tampered.indexOf(Buffer.from(`${rid1}_back_slash.wav`)) ; // the header of that member
    const body = Math.ceil((at + 1) / 512) * 512 + 100; // inside its body (a ustar header is one block)
    tampered[body] = tampered[body]! ^ 0xff;
    const verdict = await verifyBundle(readerOf(tampered), tampered.length);
    expect(verdict.ok).toBe(false);
    expect(verdict.problems).toEqual([{ path: `recordings/${rid1}_back_slash.wav`, problem: expect.stringMatching(/altered/) }]);
  });

  it('names a file beside the top directory, and one that extracts outside the folder, by its whole path', async () => {
    const { blobs, catalogue, request } = await setup();
    const { bytes } = await bundleOf({ blobs, catalogue }, request);
    const dir = mkdtempSync(join(tmpdir(), 'ferry-bundle-'));
    try {
      const file = join(dir, 'b.tar');
      writeFileSync(file, bytes);
      mkdirSync(join(dir, 'd', 'other'), { recursive: true });
      writeFileSync(join(dir, 'd', 'other', 'y.wav'), 'stray');
      writeFileSync(join(dir, 'd', 'x'), 'outside');
      execFileSync('tar', ['-rf', file, '-C', join(dir, 'd'), 'other/y.wav']);
      execFileSync('tar', ['-rf', file, '-P', '--transform', 's,^x$,../outside.txt,', '-C', join(dir, 'd'), 'x']);
      const grown = readFileSync(file);
      const verdict = await verifyBundle(readerOf(grown), grown.length);
      expect(verdict.ok).toBe(false);
      expect(verdict.problems).toEqual([
        { path: 'other/y.wav', problem: "is outside the bundle's top directory case-site-a-CASE-42-20260402T093000Z/ and not in the manifest" },
        { path: '../outside.txt', problem: 'is a path outside the folder the bundle is extracted to: not a file of the bundle' },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails verification naming what is missing when the bundle is cut short', async () => {
    const { blobs, catalogue, request } = await setup();
    const { summary, bytes } = await bundleOf({ blobs, catalogue }, request);
    const cut = bytes.subarray(0, bytes.indexOf(Buffer.from(`${summary.root}/manifest.csv`))); // the CSV manifest, SHA256SUMS and the end are gone
    const verdict = await verifyBundle(readerOf(cut), cut.length);
    expect(verdict.problems.map((p) => p.path)).toContain('manifest.csv');
  });

  it('refuses an unknown rid and a missing reason before writing a byte', async () => {
    const { blobs, catalogue, request } = await setup();
    const out = new PassThrough();
    let written = 0;
    out.on('data', (c: Buffer) => (written += c.length));
    await expect(writeCaseBundle({ blobs, catalogue }, { ...request, rids: [...request.rids, 'r00000000000000000000dead'] }, out)).rejects.toThrow(NotFoundError);
    await expect(writeCaseBundle({ blobs, catalogue }, { ...request, reason: '' }, out)).rejects.toThrow(/reason/);
    await expect(writeCaseBundle({ blobs, catalogue }, { ...request, rids: [] }, out)).rejects.toThrow(InvalidInputError);
    expect(written).toBe(0);
  });

  it('stops with IntegrityError when a pack no longer holds the catalogued bytes', async () => {
    const { blobs, catalogue, request, f } = await setup();
    const corrupt = Buffer.from(f.pack);
    const m = f.manifest.members[0]!;
    corrupt[m.offset + 10] = corrupt[m.offset + 10]! ^ 0xff;
    await blobs.put(f.packKey, corrupt);
    await expect(bundleOf({ blobs, catalogue }, request)).rejects.toThrow(IntegrityError);
  });

  it('names the call in the archive tier, with the recall to ask for, when its pack is in Deep Archive', async () => {
    const { catalogue, request, f, rids } = await setup();
    const archived = { get: async (key: string) => Promise.reject(new ArchivedError(`${key} is in the archive tier (DEEP_ARCHIVE); request a recall and play it once it is restored`, 'DEEP_ARCHIVE')) };
    const error = await bundleOf({ blobs: archived, catalogue }, request).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArchivedError);
    expect((error as Error).message).toBe(`call ${f.manifest.members[0]!.meta.callId ?? rids[0]} (site-a/${rids[0]}) is in the archive tier (DEEP_ARCHIVE): recall it (\`ferry calls recall site-a/${rids[0]}\`, or Request recall in the console), then export again once it is playable; nothing was exported`);
  });
});

describe('SHA256SUMS of a case bundle', () => {
  it('writes the lines coreutils sha256sum writes, escaping a backslash, a newline and a carriage return in a name as it does', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-sums-'));
    dirs.push(dir);
    const names = ['plain.wav', 'with space.wav', '日本語.wav', 'back\\slash.wav', 'new\nline.wav', 'carriage\rreturn.wav'];
    const files = names.map((name, i) => {
      const body = audio(i + 1, 100 + i);
      writeFileSync(join(dir, name), body);
      return { path: name, sha256: createHash('sha256').update(body).digest('hex') };
    });
    expect(sha256sums(files)).toBe(execFileSync('sha256sum', ['--', ...names], { cwd: dir, encoding: 'utf8' }));
  });

  it('lists every file of the bundle but itself, and `sha256sum -c` passes on the extracted bundle, then names the recording one byte of which was altered', async () => {
    // Two spaces in a name: the separator sha256sum -c splits on comes first, the name keeps its own.
    const { blobs, catalogue, request, f } = await setup([{ path: 'b/call  (copy 2).wav', body: audio(4, 700) }]);
    const { summary, bytes } = await bundleOf({ blobs, catalogue }, request);
    const dir = mkdtempSync(join(tmpdir(), 'ferry-bundle-'));
    dirs.push(dir);
    execFileSync('tar', ['-xf', '-', '-C', dir], { input: bytes });
    const root = join(dir, summary.root);
    const sums = readFileSync(join(root, 'SHA256SUMS'), 'utf8');
    expect(sums.split('\n').filter(Boolean)).toHaveLength(summary.files.length + 2);
    const checked = spawnSync('sha256sum', ['-c', '--strict', 'SHA256SUMS'], { cwd: root, encoding: 'utf8' });
    expect(checked.status, checked.stdout + checked.stderr).toBe(0);
    for (const path of [...summary.files.map((x) => x.path), 'manifest.json', 'manifest.csv']) expect(checked.stdout).toContain(`${path}: OK`);
    expect(checked.stdout).not.toContain('SHA256SUMS:');
    const odd = `recordings/${f.manifest.members[3]!.rid}_call  (copy 2).wav`;
    const body = readFileSync(join(root, odd));
    body[10] = body[10]! ^ 0xff;
    writeFileSync(join(root, odd), body);
    const bad = spawnSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: root, encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain(`${odd}: FAILED\n`);
    expect(bad.stderr).toContain('WARNING: 1 computed checksum did NOT match');
  });

  it('verification names an altered SHA256SUMS, one removed from a bundle whose manifest names it, and checks a bundle made before SHA256SUMS without it', async () => {
    const { blobs, catalogue, request } = await setup();
    const { summary, bytes } = await bundleOf({ blobs, catalogue }, request);
    const dir = mkdtempSync(join(tmpdir(), 'ferry-bundle-'));
    dirs.push(dir);
    execFileSync('tar', ['-xf', '-', '-C', dir], { input: bytes });
    const root = join(dir, summary.root);
    const retar = () => {
      const tar = execFileSync('tar', ['--format=pax', '-cf', '-', '-C', dir, summary.root]);
      return verifyBundle(readerOf(tar), tar.length);
    };
    expect(await retar()).toMatchObject({ ok: true, problems: [] });
    const sums = readFileSync(join(root, 'SHA256SUMS'), 'utf8');
    writeFileSync(join(root, 'SHA256SUMS'), sums.replace(/^[0-9a-f]/, (c) => (c === '0' ? '1' : '0')));
    expect((await retar()).problems).toEqual([{ path: 'SHA256SUMS', problem: 'does not list the files and hashes the manifest and the bundle hold: the file was altered' }]);
    rmSync(join(root, 'SHA256SUMS'));
    expect((await retar()).problems).toEqual([{ path: 'SHA256SUMS', problem: 'is missing, though manifest.json names it' }]);
    const manifest = JSON.parse(readFileSync(join(root, 'manifest.json'), 'utf8')) as { checksums?: string };
    delete manifest.checksums;
    writeFileSync(join(root, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    expect(await retar()).toMatchObject({ ok: true, problems: [] });
  });
});
