import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile, execSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { dirname, join, parse } from 'node:path';
import { startLocalS3, type LocalS3 } from '../../local/s3-process.ts';
import { createS3Client } from '../../adapters/aws-clients.ts';
import { S3BlobStore } from '../../adapters/s3-blob-store.ts';
import { writeTree } from '../support/recorder-tree.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { rebuildCatalogue } from '../../core/ingest.ts';
import { startApiServer } from '../../local/api-server.ts';
import { sourceFunctions } from '../support/source-functions.ts';
import { min, publishArtefact } from '../support/artefact-fixtures.ts';

// The single-file agent as a site host gets it: the file `npm run build` makes, copied alone
// into an empty folder (no node_modules anywhere above it), run by a plain Node 22 binary.

const ROOT = join(import.meta.dirname, '../..');
const NODE = realpathSync(join(ROOT, 'node_modules/.bin/node'));
let dir: string;
let host: string;
let s3: LocalS3;

/** No folder from `from` up to the file system root has a node_modules Node could resolve from. */
function noNodeModulesAbove(from: string): boolean {
  for (let d = from; ; d = dirname(d)) {
    if (existsSync(join(d, 'node_modules'))) return false;
    if (d === parse(d).root) return true;
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-single-file-'));
  host = join(dir, 'site-host');
  // The package's own build command, with only the output file moved out of the repo.
  const build = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { build: string } }).scripts.build;
  expect(build).toContain('--outfile=dist/ferry-agent.mjs');
  execSync(build.replace('--outfile=dist/ferry-agent.mjs', `--outfile=${join(host, 'ferry-agent.mjs')}`), { cwd: ROOT, env: { ...process.env, PATH: `${join(ROOT, 'node_modules/.bin')}:${process.env.PATH}` }, stdio: 'pipe' });
  s3 = await startLocalS3({ directory: join(dir, 's3'), buckets: ['ferry-data'] });
}, 120_000);

afterAll(async () => {
  await s3?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function agent(args: string[]) {
  const env = { PATH: '/usr/bin:/bin', HOME: dir, FERRY_HOME: join(dir, 'home') };
  const r = spawnSync(NODE, ['ferry-agent.mjs', ...args], { cwd: host, encoding: 'utf8', env, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** As `agent`, without blocking this process (the API it talks to runs here). */
function agentAsync(args: string[], extraEnv: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { PATH: '/usr/bin:/bin', HOME: dir, FERRY_HOME: join(dir, 'home'), ...extraEnv };
  return new Promise((resolve) => {
    execFile(NODE, ['ferry-agent.mjs', ...args], { cwd: host, encoding: 'utf8', env, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('the single-file agent', () => {
  it('is one file in a folder with no node_modules at or above it', () => {
    expect(readdirSync(host)).toEqual(['ferry-agent.mjs']);
    expect(noNodeModulesAbove(host)).toBe(true);
  });

  it("loads no undici when it starts: the built-ins whose ES module facade would load it are taken with require", () => {
    // Importing node:http as an ES module reads its lazy WebSocket export, which loads undici (a
    // start of the agent pays for it, and never uses it). scripts/build-agent.mjs, REQUIRED_BUILTINS.
    const probe = `await import(${JSON.stringify(pathToFileURL(join(host, 'ferry-agent.mjs')).href)}); console.log(JSON.stringify(process.moduleLoadList.filter((m) => m.includes('undici'))));`;
    const r = spawnSync(NODE, ['--input-type=module', '-e', probe], { cwd: dir, encoding: 'utf8', env: { PATH: '/usr/bin:/bin', HOME: dir }, timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual([]);
  });

  it('checks a config and ships a pass to the local cloud with no node_modules', async () => {
    const recorder = join(dir, 'recorder');
    const recordings = writeTree(recorder, 2, 5);
    const config = join(host, 'agent.yaml');
    writeFileSync(
      config,
      `site: single\nstate: ${join(dir, 'state')}\n` +
        `cloud: { bucket: ferry-data, endpoint: ${s3.endpoint}, credentials: { accessKeyId: ${s3.credentials.accessKeyId}, secretAccessKey: ${s3.credentials.secretAccessKey} } }\n` +
        `sources:\n  - { name: cs, type: recordings, path: ${recorder}, closeAfterFiles: 5, quietSeconds: 0, settleSeconds: 0 }\n`,
    );
    const check = agent(['agent', 'check', '--config', 'agent.yaml']);
    expect(check.stderr).toBe('');
    expect(check.stdout).toContain('configuration agent.yaml is valid: site single, 1 source(s)');

    const run = agent(['agent', 'run', '--config', 'agent.yaml', '--once', '--json-logs']);
    expect(run.stderr).not.toMatch(/Cannot find (module|package)/);
    expect(run.code).toBe(0);

    const store = new S3BlobStore(createS3Client({ endpoint: s3.endpoint, credentials: s3.credentials }), 'ferry-data');
    const keys: string[] = [];
    for await (const blob of store.list('')) keys.push(blob.key);
    expect(keys.filter((k) => k.startsWith('manifests/single/'))).toHaveLength(2);
    expect(keys.filter((k) => k.startsWith('recordings/single/') && k.endsWith('.tar'))).toHaveLength(2);
    expect(recordings).toHaveLength(10);
  });

  it('fetches a point-in-time restore plan from the cloud with no node_modules (a DR host with only this file)', async () => {
    const store = new S3BlobStore(createS3Client({ endpoint: s3.endpoint, credentials: s3.credentials }), 'ferry-data');
    const full = Buffer.from('-- full dump\n'.repeat(1000));
    const segment = Buffer.from('binlog events\n'.repeat(500));
    await publishArtefact(store, { site: 'single', source: 'db', sourceType: 'rotated', role: 'full', name: 'full.sql', body: full, takenAt: min(0), extra: { position: { logFile: 'mysql-bin.000001', logPos: 4 } } });
    await publishArtefact(store, { site: 'single', source: 'binlog', sourceType: 'binlog', role: 'segment', name: 'mysql-bin.000001', body: segment, takenAt: min(9), extra: { sequence: 1, series: 'mysql-bin', span: { from: min(0), to: min(9) } } });
    const catalogue = new MemoryCatalogue();
    await rebuildCatalogue({ blobs: store, catalogue });
    const api = await startApiServer({ ...sourceFunctions({ catalogue }), credentials: [s3.credentials], region: 'us-east-1', log: () => undefined });
    try {
      const env = { AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey, AWS_REGION: 'us-east-1', FERRY_BUCKET: 'ferry-data', AWS_ENDPOINT_URL_S3: s3.endpoint };
      const r = await agentAsync(['restore', 'fetch', '--site', 'single', '--source', 'db', '--at', min(5), '--to', 'restored', '--api', api.url, '--json'], env);
      expect(r.stderr).not.toMatch(/Cannot find (module|package)/);
      expect(r.code).toBe(0);
      expect(readdirSync(join(host, 'restored')).sort()).toEqual(['apply.sh', 'full.sql', 'mysql-bin.000001', 'restore-plan.json']);
      expect(readFileSync(join(host, 'restored', 'full.sql')).equals(full)).toBe(true);
      expect(readFileSync(join(host, 'restored', 'mysql-bin.000001')).equals(segment)).toBe(true);
    } finally {
      await api.stop();
    }
  });

  it('holds `snapshots list`, which the tree restore names to find a snapshot, `snapshots files`, which lists one, and `snapshots diff`, which compares two', () => {
    const r = agent(['snapshots', 'list', '--help']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('--site <site>');
    const files = agent(['snapshots', 'files', '--help']);
    expect(files.code, files.stderr).toBe(0);
    expect(files.stdout).toContain('--include <glob>');
    const diff = agent(['snapshots', 'diff', '--help']);
    expect(diff.code, diff.stderr).toBe(0);
    expect(diff.stdout).toContain('--since <time>');
  });

  it('refuses a missing config with exit 2 and the setting named, as the full CLI does', () => {
    const r = agent(['agent', 'check', '--config', 'missing.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--config missing.yaml: does not exist');
  });
});
