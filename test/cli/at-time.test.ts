import { afterEach, describe, expect, it } from 'vitest';
import { checkAtText } from '../../cli/at-time.ts';

// `--at` (and `calls search --from/--to`) typed without a zone, on a machine whose clock changes
// for summer time: the refusal's example is the instant the DBA meant, and a time the clock showed
// twice, or never, is said to be so rather than given one offset as if it were the only one.

const saved = process.env.TZ;
afterEach(() => {
  if (saved === undefined) delete process.env.TZ;
  else process.env.TZ = saved;
});

describe('a time without a zone around a change of the clocks', () => {
  it('names both offsets of a time in the hour the clocks went back on this machine (London, 25 October 2026), the first first', () => {
    process.env.TZ = 'Europe/London';
    expect(() => checkAtText('2026-10-25T01:30:00')).toThrow("--at needs a time zone, and 2026-10-25T01:30:00 happened twice on this machine's clock (the clocks went back that night): 2026-10-25T01:30:00+01:00 is the first, 2026-10-25T01:30:00Z (UTC) the second");
    process.env.TZ = 'America/New_York';
    expect(() => checkAtText('2026-11-01 01:30', undefined, undefined, '--from')).toThrow("--from needs a time zone, and 2026-11-01T01:30 happened twice on this machine's clock (the clocks went back that night): 2026-11-01T01:30-04:00 is the first, 2026-11-01T01:30-05:00 the second");
  });

  it('says that a time in the hour the clocks skipped never showed, and gives no offset of this machine for it', () => {
    process.env.TZ = 'America/New_York';
    expect(() => checkAtText('2026-03-08T02:30:00')).toThrow("--at needs a time zone, and 2026-03-08T02:30:00 never showed on this machine's clock (the clocks went forward over it that night): give the instant meant with its offset, e.g. 2026-03-08T02:30:00Z (UTC)");
  });

  it('gives the one offset of an ordinary time, in summer and in a zone without summer time', () => {
    process.env.TZ = 'Europe/London';
    expect(() => checkAtText('2026-10-25T03:00:00')).toThrow('--at needs a time zone, e.g. 2026-10-25T03:00:00Z (UTC, this machine\'s zone)');
    expect(() => checkAtText('2026-07-01T10:00:00')).toThrow("--at needs a time zone, e.g. 2026-07-01T10:00:00+01:00 (this machine's offset then) or 2026-07-01T10:00:00Z (UTC)");
    process.env.TZ = 'Asia/Kolkata';
    expect(() => checkAtText('2026-11-01T01:30:00')).toThrow("--at needs a time zone, e.g. 2026-11-01T01:30:00+05:30 (this machine's offset then) or 2026-11-01T01:30:00Z (UTC)");
  });
});
