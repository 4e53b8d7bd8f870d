import { describe, it, expect } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readOnlyStateOver, stateDiskFullAlert } from '../../cli/state-disk-alert.ts';
import { loadConfig } from '../../cli/build-agent.ts';
import { createLogger } from '../../agent/log.ts';

// What `agent run` does with a write to the state directory that failed during a pass: the
// kernel remounted the disk read-only after an I/O error (EROFS) between two writes.

describe('a pass stopped by a state directory remounted read-only', () => {
  it('alerts through alerts.command (critical, naming the directory) and ends the run on a sentence saying what to do, not a bare EROFS', async () => {
    const work = mkdtempSync(join(tmpdir(), 'ferry-state-erofs-'));
    mkdirSync(join(work, 'rec'));
    const alerts = join(work, 'alerts.jsonl');
    const file = join(work, 'agent.yaml');
    writeFileSync(file, `site: site-a\nstate: ${join(work, 'state')}\ncloud: { bucket: ferry-data, endpoint: "http://127.0.0.1:9", credentials: { accessKeyId: a, secretAccessKey: b } }\nalerts: { command: "cat >> ${alerts}" }\nsources:\n  - { name: cs, type: recordings, path: ${join(work, 'rec')} }\n`);
    const config = loadConfig(file);
    const erofs = Object.assign(new Error(`EROFS: read-only file system, open '${join(work, 'state', 'journal.jsonl')}'`), { code: 'EROFS' });
    const ended = await stateDiskFullAlert(config, createLogger({ json: true, write: () => undefined }), erofs, 'run');
    const sent = JSON.parse(readFileSync(alerts, 'utf8')) as { key: string; severity: string; message: string };
    expect(sent).toMatchObject({ key: 'state-disk-read-only', severity: 'critical' });
    expect(sent.message).toContain(`${join(work, 'state')} is on a file system mounted read-only (EROFS): a write to it failed during a pass`);
    expect((ended as Error).message).toBe(sent.message);
  });

  it('is alerted once across the passes of a service that each find it so (not every pollSeconds), and again once a pass has ended well', async () => {
    const work = mkdtempSync(join(tmpdir(), 'ferry-state-erofs-'));
    mkdirSync(join(work, 'rec'));
    const alerts = join(work, 'alerts.jsonl');
    const file = join(work, 'agent.yaml');
    writeFileSync(file, `site: site-a\nstate: ${join(work, 'state')}\ncloud: { bucket: ferry-data, endpoint: "http://127.0.0.1:9", credentials: { accessKeyId: a, secretAccessKey: b } }\nalerts: { command: "cat >> ${alerts}; echo >> ${alerts}" }\nsources:\n  - { name: cs, type: recordings, path: ${join(work, 'rec')} }\n`);
    const config = loadConfig(file);
    const erofs = Object.assign(new Error(`EROFS: read-only file system, open '${join(work, 'state', 'status.json')}'`), { code: 'EROFS' });
    const log = createLogger({ json: true, write: () => undefined });
    const sent = () => readFileSync(alerts, 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { key: string }).key);
    for (let pass = 0; pass < 3; pass++) expect((await stateDiskFullAlert(config, log, erofs, 'run')) as Error).toHaveProperty('message', expect.stringContaining('mounted read-only (EROFS)'));
    expect(sent()).toEqual(['state-disk-read-only']);
    readOnlyStateOver(config.state);
    await stateDiskFullAlert(config, log, erofs, 'run');
    expect(sent()).toEqual(['state-disk-read-only', 'state-disk-read-only']);
  });
});
