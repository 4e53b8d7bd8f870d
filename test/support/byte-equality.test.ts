import { describe, it, expect } from 'vitest';

describe('byte arrays in toEqual', () => {
  it('finds one differing byte in 2 MB, and equal bytes equal, quickly', () => {
    const a = Buffer.alloc(2_000_000, 7);
    const b = Buffer.from(a);
    expect(b).toEqual(a);
    b[1_999_999] = 8;
    expect(b).not.toEqual(a);
    expect(a.subarray(0, 10)).toEqual(Buffer.alloc(10, 7));
  });

  it('keeps the default rules across types and lengths', () => {
    expect(Buffer.from('ab')).not.toEqual(Buffer.from('abc'));
    expect(new Uint8Array([1, 2])).toEqual(new Uint8Array([1, 2]));
    expect(new Uint8Array([1, 2])).not.toEqual(new Uint8Array([1, 3]));
    expect(Buffer.from([1, 2])).not.toEqual([1, 2]);
  });
});
