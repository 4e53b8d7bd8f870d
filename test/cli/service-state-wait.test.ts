import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

async function until(what: string, ok: () => boolean, ms = 30_000, seen?: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    // What the agent printed, so a timeout says where it stood.
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${seen ? `; the agent printed:\n${seen()}` : ''}`);
    await sleep(100);
  }
}

/** `agent run` as a service on a state directory its user may not write, as a service user runs it. */
function serviceOnUnwritableState() {
  const work = mkdtempSync(join(tmpdir(), 'ferry-service-wait-'));
  const rec = join(work, 'rec');
  mkdirSync(join(rec, '000001'), { recursive: true });
  const state = join(work, 'state');
  mkdirSync(state, { mode: 0o500 });
  chmodSync(state, 0o500);
  const alerts = join(work, 'alerts.jsonl');
  const config = join(work, 'agent.yaml');
  writeFileSync(config, `site: site-a\nstate: ${state}\nshipping: { pollSeconds: 0.3 }\ncloud: { bucket: ferry-data, endpoint: "http://127.0.0.1:9", credentials: { accessKeyId: a, secretAccessKey: b } }\nalerts: { command: "cat >> ${alerts}" }\nsources:\n  - { name: cs, type: recordings, path: ${rec} }\n`);
  // As root, without the capabilities that bypass permission bits.
  const args = [join(REPO, 'bin/ferry.mjs'), 'agent', 'run', '--config', config];
  const child = process.getuid?.() === 0 ? spawn('setpriv', ['--bounding-set=-dac_override,-dac_read_search', process.execPath, ...args]) : spawn(process.execPath, args);
  const out = { text: '', code: undefined as number | null | undefined };
  child.stderr.on('data', (d: Buffer) => (out.text += d.toString()));
  child.stdout.on('data', (d: Buffer) => (out.text += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve((out.code = code))));
  return { state, alerts, child, out, exited };
}

// systemd restarts a service that exits (Restart=on-failure): an agent that exited on a state
// directory it cannot write would page again at every restart, and stop paging only when the unit
// gave up. As a service it waits instead, alerting once, and starts when the directory is writable.
describe('agent run as a service on a state directory its user may not write', () => {
  it('alerts once, stays up checking every pollSeconds, starts its passes once the directory is writable, and stops cleanly on SIGTERM', async () => {
    const { state, alerts, child, out, exited } = serviceOnUnwritableState();
    try {
      await until('the alert and the waiting line', () => existsSync(alerts) && out.text.includes('waiting for it'));
      expect(out.text).toContain('checked again every 0.3 s');
      // Several checks later: still running, and the pager was told once.
      await sleep(1_500);
      expect(out.code, out.text).toBeUndefined();
      const sent = readFileSync(alerts, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { key: string });
      expect(sent.map((a) => a.key)).toEqual(['state-unwritable']);
      chmodSync(state, 0o700);
      await until('the start once writable', () => out.text.includes('the state directory can be written again: the agent starts'), 60_000, () => out.text);
      await until('the agent started line', () => out.text.includes('agent started'), 60_000, () => out.text);
    } finally {
      child.kill('SIGTERM');
    }
    await Promise.race([exited, sleep(60_000)]);
    expect(out.code, out.text).not.toBeUndefined();
  }, 120_000);

  it('stops cleanly (exit 0) on SIGTERM while it waits, having started nothing', async () => {
    const { child, out, exited } = serviceOnUnwritableState();
    await until('the waiting line', () => out.text.includes('waiting for it'));
    child.kill('SIGTERM');
    expect(await exited, out.text).toBe(0);
    expect(out.text).not.toContain('agent started');
  }, 120_000);
});
