import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../adapters/aws-clients.ts';
import { S3BlobStore } from '../../adapters/s3-blob-store.ts';
import { startLocalS3, type LocalS3 } from '../../local/s3-process.ts';
import { parseAgentConfig } from '../../core/config.ts';
import { ManualClock } from '../../core/clock.ts';
import { ConfigError } from '../../core/errors.ts';
import { BandwidthSchedule, parseRate } from '../../core/bandwidth.ts';
import { Agent } from '../../agent/agent.ts';
import { Throttle } from '../../agent/bandwidth.ts';
import { silentLogger } from '../../agent/log.ts';
import { writeTree } from '../support/recorder-tree.ts';
import { startByteMeter, WINDOW_MS } from '../support/byte-meter.ts';

const MiB = 1024 * 1024;
const london = new BandwidthSchedule({ timezone: 'Europe/London', default: 'unlimited', schedule: [{ days: 'Mon-Fri', from: '08:00', to: '18:00', limit: '2MiB/s' }] });

describe('bandwidth schedule', () => {
  it.each([
    ['Friday 07:59 GMT (winter time), before the window', '2026-03-27T07:59:00Z', undefined],
    ['Friday 08:00 GMT, the window opens', '2026-03-27T08:00:00Z', 2 * MiB],
    ['Friday 17:59 GMT', '2026-03-27T17:59:59Z', 2 * MiB],
    ['Friday 18:00 GMT, the window has closed', '2026-03-27T18:00:00Z', undefined],
    ['Saturday noon', '2026-03-28T12:00:00Z', undefined],
    ['Monday 07:30 UTC = 08:30 BST after the clocks went forward', '2026-03-30T07:30:00Z', 2 * MiB],
    ['Monday 17:30 UTC = 18:30 BST', '2026-03-30T17:30:00Z', undefined],
    ['Monday 26 Oct 08:30 UTC = 08:30 GMT after the clocks went back', '2026-10-26T08:30:00Z', 2 * MiB],
  ])('at %s the limit is the one the site-local time calls for', (_what, at, limit) => {
    expect(london.limitAt(new Date(at))).toBe(limit);
  });

  it('names the next change in UTC, across a DST change (Friday 18:00 GMT, then Monday 08:00 BST = 07:00 UTC)', () => {
    expect(london.nextChange(new Date('2026-03-27T12:00:00Z'))).toEqual({ at: new Date('2026-03-27T18:00:00Z'), limit: undefined });
    expect(london.nextChange(new Date('2026-03-27T19:00:00Z'))).toEqual({ at: new Date('2026-03-30T07:00:00Z'), limit: 2 * MiB });
    expect(london.describe(new Date('2026-03-27T12:00:00Z'))).toEqual({ limit: '2 MiB/s', next: { at: '2026-03-27T18:00:00.000Z', limit: 'unlimited' } });
    expect(BandwidthSchedule.unlimited().nextChange(new Date())).toBeUndefined();
  });

  it('the first window that covers an instant wins', () => {
    const s = new BandwidthSchedule({ timezone: 'UTC', default: '10MiB/s', schedule: [{ days: 'Mon', from: '09:00', to: '10:00', limit: '1MiB/s' }, { days: 'daily', from: '00:00', to: '24:00', limit: '5MiB/s' }] });
    expect(s.limitAt(new Date('2026-03-30T09:30:00Z'))).toBe(MiB);
    expect(s.limitAt(new Date('2026-03-30T10:30:00Z'))).toBe(5 * MiB);
  });

  it('reads rates in bytes and bits', () => {
    expect(parseRate('500KiB/s')).toBe(500 * 1024);
    expect(parseRate('20Mbit/s')).toBe(2_500_000);
    expect(parseRate('unlimited')).toBeUndefined();
    expect(() => parseRate('fast')).toThrow(/not a rate/);
  });

  it('config errors name the path of every bad bandwidth setting', () => {
    const yaml = `site: a
state: /tmp/x
bandwidth:
  timezone: Europe/Londn
  default: lots
  schedule:
    - { days: Mon-Fry, from: "18:00", to: "08:00", limit: 2MiB/s }
sources:
  - { name: cs, type: recordings, path: /tmp/r }
`;
    let problems: string[] = [];
    try {
      parseAgentConfig(yaml);
    } catch (error) {
      problems = (error as ConfigError).problems;
    }
    expect(problems.join('\n')).toMatch(/bandwidth\.timezone: unknown time zone "Europe\/Londn"/);
    expect(problems.join('\n')).toMatch(/bandwidth\.default: "lots" is not a rate/);
    expect(problems.join('\n')).toMatch(/bandwidth\.schedule\[0\]\.days: "Mon-Fry" is not a set of days/);
  });

  it('a rate written in another usual way is refused saying what it likely means, and a bare number naming its missing unit', () => {
    expect(() => parseRate('10Mbps')).toThrow('"10Mbps" is not a rate (did you mean "10Mbit/s"?)');
    expect(() => parseRate('100MB')).toThrow('"100MB" is not a rate (did you mean "100MB/s"?)');
    expect(() => parseRate('5mib')).toThrow(/a lowercase b leaves bits or bytes open/);
    const yaml = (bandwidth: string) => `site: a\nstate: /tmp/x\nbandwidth: ${bandwidth}\nsources: [{ name: cs, type: recordings, path: /tmp/r }]\n`;
    let problems: string[] = [];
    try {
      parseAgentConfig(yaml('{ schedule: [{ days: daily, from: "08:00", to: "18:00", limit: 10 }] }'));
    } catch (error) {
      problems = (error as ConfigError).problems;
    }
    expect(problems).toEqual(['bandwidth.schedule[0].limit: "10" is not a rate (a rate needs its unit): write "unlimited" or e.g. "2MiB/s", "500KiB/s", "20Mbit/s"']);
  });

  it('a bare rate is the limit at every hour (short for { default: rate })', () => {
    const config = parseAgentConfig(`site: a\nstate: /tmp/x\nbandwidth: 10MB/s\nsources: [{ name: cs, type: recordings, path: /tmp/r }]\n`);
    expect(config.bandwidth).toEqual({ timezone: 'UTC', default: '10MB/s', schedule: [] });
    expect(new BandwidthSchedule(config.bandwidth!).limitAt(new Date())).toBe(10e6);
  });

  it('a window that ends before it starts is refused at bandwidth.schedule[n].to', () => {
    expect(() =>
      parseAgentConfig(`site: a
state: /tmp/x
bandwidth: { schedule: [{ days: daily, from: "22:00", to: "06:00", limit: 1MiB/s }] }
sources: [{ name: cs, type: recordings, path: /tmp/r }]
`),
    ).toThrow(/bandwidth\.schedule\[0\]\.to: "from" must be before "to"/);
  });
});

describe('the throttle after a busy event loop', () => {
  it('slices of 12 streams held up 600 ms by a busy event loop do not leave together: no 100 ms holds more than twice its share of a 2 MiB/s limit', async () => {
    const throttle = new Throttle(new BandwidthSchedule({ timezone: 'UTC', default: '2MiB/s', schedule: [] }));
    const released: number[] = [];
    const slice = 64 * 1024;
    const stream = async (slices: number) => {
      for (let i = 0; i < slices; i++) {
        await throttle.take(slice);
        released.push(performance.now());
      }
    };
    // 500 ms in, the event loop is busy for 600 ms (a pack hashed, a tar written).
    setTimeout(() => {
      const until = performance.now() + 600;
      while (performance.now() < until);
    }, 500);
    await Promise.all(Array.from({ length: 12 }, () => stream(4))); // 12 streams (packs, parts, artefacts), 3 MiB: 1.5 s at the limit
    let most = 0;
    for (const at of released) most = Math.max(most, released.filter((t) => t >= at && t < at + 100).length * slice);
    // Due while the loop was busy, a slice of every stream (768 KiB) would leave at once when it frees.
    expect(most, `busiest 100 ms: ${(most / MiB).toFixed(2)} MiB`).toBeLessThanOrEqual(0.4 * MiB);
  });
});

describe('bandwidth limit against the local S3', () => {
  let dir: string;
  let s3: LocalS3;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-bandwidth-'));
    s3 = await startLocalS3({ directory: join(dir, 's3'), buckets: ['ferry-data'] });
  });
  afterAll(async () => {
    await s3.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('3 MiB shipped as three packs side by side under a 1 MiB/s limit takes about 3 s (at most ~1.2 MiB/s)', async () => {
    const root = join(dir, 'rec');
    mkdirSync(root);
    writeTree(root, 3, 2, { size: MiB / 2 }); // 3 batches of 2 × 512 KiB
    const config = parseAgentConfig(`
site: site-a
state: ${join(dir, 'state')}
shipping: { partSizeMiB: 5, packConcurrency: 3 }
bandwidth: { timezone: Europe/London, default: 1MiB/s }
sources:
  - { name: cs, type: recordings, path: ${root}, closeAfterFiles: 2, quietSeconds: 60, settleSeconds: 1 }
`);
    const client = createS3Client({ endpoint: s3.endpoint, credentials: s3.credentials, maxAttempts: 2 });
    const store = new S3BlobStore(client, 'ferry-data', { features: { verifiesChecksums: false, conditionalPut: true, md5ETags: true } });
    const agent = new Agent({ config, store, clock: new ManualClock(new Date()), log: silentLogger, notifier: { notify: async () => undefined }, verify: 'etag' });
    try {
      const started = performance.now();
      const report = await agent.cycle();
      const seconds = (performance.now() - started) / 1000;
      expect(report).toMatchObject({ packs: 3, failed: 0 });
      const sent = agent.throttle.bytesSent;
      expect(sent).toBeGreaterThan(3 * MiB);
      expect(seconds).toBeGreaterThan(2.5);
      expect(sent / seconds).toBeLessThan(1.2 * MiB);
      expect(seconds).toBeLessThan(15);
      expect(agent.throttle.limit).toBe(MiB);
    } finally {
      agent.close();
      client.destroy();
    }
  });

  it('two packs of 5 MiB parts side by side under a 2 MiB/s limit never put more than 1.5× the limit on the line in any 1 s window', async () => {
    const root = join(dir, 'rec-paced');
    mkdirSync(root);
    writeTree(root, 2, 2, { size: 3 * MiB }); // 2 batches of 2 × 3 MiB: each pack a 5 MiB part and a 1 MiB one
    const config = parseAgentConfig(`
site: site-p
state: ${join(dir, 'state-paced')}
shipping: { partSizeMiB: 5, packConcurrency: 2 }
bandwidth: 2MiB/s
sources:
  - { name: cs, type: recordings, path: ${root}, closeAfterFiles: 2, quietSeconds: 60, settleSeconds: 1 }
`);
    const meter = await startByteMeter(s3.endpoint);
    const client = createS3Client({ endpoint: meter.endpoint, credentials: s3.credentials, maxAttempts: 2 });
    const store = new S3BlobStore(client, 'ferry-data', { features: { verifiesChecksums: false, conditionalPut: true, md5ETags: true } });
    const agent = new Agent({ config, store, clock: new ManualClock(new Date()), log: silentLogger, notifier: { notify: async () => undefined }, verify: 'etag' });
    try {
      const report = await agent.cycle();
      expect(report).toMatchObject({ packs: 2, failed: 0 });
      const windows = meter.windows();
      const total = windows.reduce((s, x) => s + x, 0);
      expect(total).toBeGreaterThan(12 * MiB);
      // Paid for whole, each 5 MiB part left at link speed: 10 MiB in well under a second.
      const second = 1000 / WINDOW_MS;
      const busiest = meter.busiest(second);
      expect(busiest, `busiest second ${(busiest / MiB).toFixed(2)} MiB of ${(total / MiB).toFixed(1)} MiB over ${windows.length / second} s`).toBeLessThan(1.5 * 2 * MiB);
      expect(windows.length / second).toBeGreaterThan(5); // the limit still holds on average
    } finally {
      agent.close();
      client.destroy();
      await meter.close();
    }
  });
});
