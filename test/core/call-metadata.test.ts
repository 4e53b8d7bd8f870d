import { describe, it, expect } from 'vitest';
import { callMetadataSchema, plainCallMetadata } from '../../core/manifest.ts';

// The agent checks every recording's call metadata with plainCallMetadata before the schema: it
// must accept only what callMetadataSchema accepts, return exactly what the schema returns (the
// manifest's bytes depend on the key order), and leave everything else to the schema.

const VALUES: Record<string, unknown[]> = {
  callId: ['c-0042', '', ' ', 7, undefined],
  start: [
    '2024-03-01T09:00:00.000Z',
    '2024-03-01T09:00:00Z',
    '2024-03-01T09:00:00+01:00',
    '2024-02-29T23:59:59.123456Z',
    '2023-02-29T00:00:00.000Z',
    '2024-03-01 09:00:00Z',
    '2024-03-01T24:00:00.000Z',
    '+010000-01-01T00:00:00.000Z',
    '',
    undefined,
  ],
  end: ['2024-03-01T09:01:30.000Z', '2024-13-01T09:01:30.000Z', '2024-03-01T09:01:30.000', 1709283690000, undefined],
  durationSec: [90, 0, 1.5, -1, Number.NaN, Number.POSITIVE_INFINITY, '90', undefined],
  agent: ["Siobhán O'Neill", '', undefined],
  caller: ['+441632960123', 'anonymous', '', undefined],
  called: ['201', null, undefined],
  direction: ['inbound', 'outbound', 'internal', 'unknown', 'Incoming', '', undefined],
  codec: ['pcm', '', undefined],
};

describe('plainCallMetadata', () => {
  it('accepts only what callMetadataSchema accepts, and returns exactly what it returns, key order included', () => {
    let seed = 20261203;
    const pick = <T>(list: T[]): T => list[((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % list.length] as T;
    let accepted = 0;
    for (let n = 0; n < 5000; n++) {
      const meta: Record<string, unknown> = {};
      // Keys in a shuffled order, some absent, some present but undefined, now and then one unknown.
      const keys = Object.keys(VALUES).sort(() => pick([-1, 1]));
      for (const key of keys) {
        const value = pick([...(VALUES[key] as unknown[]), 'absent']);
        if (value !== 'absent') meta[key] = value;
      }
      if (pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]) === 0) meta.extra = 'x';
      const fast = plainCallMetadata(meta);
      if (fast === undefined) continue;
      accepted++;
      const schema = callMetadataSchema.safeParse(meta);
      expect(schema.success, JSON.stringify(meta)).toBe(true);
      expect(JSON.stringify(fast), JSON.stringify(meta)).toBe(JSON.stringify(schema.data));
    }
    // The fast check must take a fair share, or the property says nothing.
    expect(accepted).toBeGreaterThan(50);
  });

  it('accepts the metadata a sidecar gives, whatever order its fields were set in, with the keys in the schema order', () => {
    const meta = { durationSec: 90, end: '2024-03-01T09:01:30.000Z', callId: 'c-1', start: '2024-03-01T09:00:00.000Z', direction: 'inbound', agent: 'Ann' };
    const fast = plainCallMetadata(meta);
    expect(fast).toEqual(meta);
    expect(Object.keys(fast ?? {})).toEqual(['callId', 'start', 'end', 'durationSec', 'agent', 'direction']);
  });

  it.each([
    ['an end that is not a time', { end: '2024-03-01 09:01' }],
    ['a negative duration', { durationSec: -1 }],
    ['a direction the schema does not know', { direction: 'sideways' }],
    ['an empty agent', { agent: '' }],
    ['a key the schema does not know', { callId: 'c-1', colour: 'blue' }],
    ['a key present with no value', { callId: undefined }],
  ])('leaves metadata with %s to the schema', (_what, meta) => {
    expect(plainCallMetadata(meta)).toBeUndefined();
  });
});
