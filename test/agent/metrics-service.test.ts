import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalS3, type LocalS3 } from '../../local/s3-process.ts';
import { writeTree } from '../support/recorder-tree.ts';
import { localS3AgentConfig, spawnFerry, untilLogged } from '../support/local-s3-agent.ts';

// `ferry agent run` as a service with metrics.listen: the real process serves /healthz and
// /metrics over HTTP while it ships to the local S3, and stops on SIGTERM.

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');
let dir: string;
let s3: LocalS3;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-metrics-svc-'));
  s3 = await startLocalS3({ directory: join(dir, 's3'), buckets: ['ferry-data'] });
});
afterAll(async () => {
  await s3.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('agent service with metrics.listen', () => {
  it('logs where /healthz and /metrics are, answers 200 after its first pass and counts the packs it shipped', async () => {
    const rec = join(dir, 'rec');
    mkdirSync(rec);
    writeTree(rec, 2, 2, { size: 1000 });
    const file = localS3AgentConfig(join(dir, 'agent.yaml'), s3, { site: 'site-a', state: join(dir, 'state'), root: rec, closeAfterFiles: 2, extra: 'shipping: { pollSeconds: 1 }\nmetrics: { listen: "127.0.0.1:0" }\n' });
    const child = spawn(process.execPath, [BIN, 'agent', 'run', '--config', file, '--json-logs'], { env: { ...process.env, FERRY_HOME: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no "agent started" log line')), 20_000);
        for (const stream of [child.stdout, child.stderr]) {
          createInterface({ input: stream }).on('line', (line) => {
            const m = /"healthz":"([^"]+)"/.exec(line);
            if (m) {
              clearTimeout(timer);
              resolve(m[1] as string);
            }
          });
        }
      });
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/healthz$/);
      let status = 0;
      for (let i = 0; i < 100 && status !== 200; i++) {
        status = (await fetch(url)).status;
        if (status !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      expect(status).toBe(200);
      const text = await (await fetch(url.replace(/healthz$/, 'metrics'))).text();
      expect(text).toMatch(/^ferry_agent_packs_shipped_total\{source="cs"\} 2$/m);
      expect(text).toMatch(/^ferry_agent_bandwidth_limited 0$/m);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 40_000);

  it('goes on shipping when metrics.listen cannot listen (the port taken), logging and alerting the setting, instead of stopping', async () => {
    const { createServer } = await import('node:net');
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    const rec = join(dir, 'rec-busy');
    mkdirSync(rec);
    writeTree(rec, 2, 2, { size: 1000 });
    const extra = `shipping: { pollSeconds: 1 }\nmetrics: { listen: "127.0.0.1:${port}" }\nalerts: { command: "cat >> ${join(dir, 'alerts-busy.jsonl')}" }\n`;
    const file = localS3AgentConfig(join(dir, 'agent-busy.yaml'), s3, { site: 'site-b', state: join(dir, 'state-busy'), root: rec, closeAfterFiles: 2, extra });
    const run = spawnFerry(['agent', 'run', '--config', file, '--json-logs'], { ...process.env, FERRY_HOME: dir });
    try {
      expect(await untilLogged(run, '"pack published"')).toBe(true);
      expect(run.lines.find((l) => l.text.includes('metrics endpoint cannot listen'))?.text).toMatch(new RegExp(`"listen":"127\\.0\\.0\\.1:${port}".*EADDRINUSE`));
      expect(readFileSync(join(dir, 'alerts-busy.jsonl'), 'utf8')).toContain(`the agent's metrics endpoint cannot listen on 127.0.0.1:${port}`);
    } finally {
      run.child.kill('SIGTERM');
      taken.close();
    }
    expect(await run.exited).toBe(0);
  }, 40_000);
});
