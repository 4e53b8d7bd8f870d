import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { roomBeforeUtcBoundary } from '../support/utc-boundary.ts';

// `ferry agent status` shows the upload limit in force and the next scheduled change.

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');

describe('agent status and the bandwidth schedule', () => {
  it('shows the limit in force now, when it next changes and to what', async () => {
    // The schedule changes at noon and midnight UTC: the two commands and the half of the day
    // expected all fall within one half, not across a change (a minute is ample on a loaded machine).
    await roomBeforeUtcBoundary(60_000, 43_200_000);
    const dir = mkdtempSync(join(tmpdir(), 'ferry-bw-status-'));
    mkdirSync(join(dir, 'rec'));
    // As `agent check` or the agent's first run leaves it (status refuses a state directory that is not there).
    mkdirSync(join(dir, 'state'));
    const file = join(dir, 'agent.yaml');
    writeFileSync(
      file,
      `site: s
state: ${join(dir, 'state')}
bandwidth:
  timezone: UTC
  schedule:
    - { days: daily, from: "00:00", to: "12:00", limit: 1MiB/s }
    - { days: daily, from: "12:00", to: "24:00", limit: 3MiB/s }
sources:
  - { name: rec, type: recordings, path: ${join(dir, 'rec')} }
`,
    );
    const run = (args: string[]) => spawnSync(process.execPath, [BIN, 'agent', 'status', '--config', file, ...args], { encoding: 'utf8', env: { ...process.env, FERRY_HOME: dir }, timeout: 30_000 });
    const text = run([]);
    expect(text.status).toBe(0);
    const morning = new Date().getUTCHours() < 12;
    const [now, next] = morning ? ['1', '3'] : ['3', '1'];
    expect(text.stdout).toMatch(new RegExp(`bandwidth\\s+${now} MiB/s until \\d{4}-\\d\\d-\\d\\dT${morning ? '12' : '00'}:00:00\\.000Z \\(UTC schedule\\), then ${next} MiB/s`));
    const json = JSON.parse(run(['--json']).stdout);
    expect(json.bandwidth).toMatchObject({ limit: `${now} MiB/s`, timezone: 'UTC', next: { limit: `${next} MiB/s` } });
  }, 120_000); // two CLI starts and up to a minute waiting for noon or midnight UTC to pass

  it('shows the limit in the unit the configuration wrote it in (8 Mbit/s, not 976.56 KiB/s), in text and --json', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-bw-unit-'));
    mkdirSync(join(dir, 'rec'));
    mkdirSync(join(dir, 'state'));
    const file = join(dir, 'agent.yaml');
    writeFileSync(file, `site: s\nstate: ${join(dir, 'state')}\nbandwidth: { default: 8Mbit/s }\nsources:\n  - { name: rec, type: recordings, path: ${join(dir, 'rec')} }\n`);
    const run = (args: string[]) => spawnSync(process.execPath, [BIN, 'agent', 'status', '--config', file, ...args], { encoding: 'utf8', env: { ...process.env, FERRY_HOME: dir }, timeout: 30_000 });
    expect(run([]).stdout).toMatch(/^bandwidth\s+8 Mbit\/s$/m);
    expect(JSON.parse(run(['--json']).stdout).bandwidth).toEqual({ limit: '8 Mbit/s', timezone: 'UTC' });
  });
});
