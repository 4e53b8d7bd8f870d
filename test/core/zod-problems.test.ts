import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { zodProblems } from '../../core/zod-problems.ts';

describe('zodProblems', () => {
  const schema = z.object({ calls: z.array(z.object({ rid: z.string() })) }).strict();

  it('names each issue by its dotted path, with the prefix', () => {
    const r = schema.safeParse({ calls: [{ rid: 'a' }, { rid: 7 }], extra: 1 });
    expect(r.success).toBe(false);
    expect(zodProblems(r.error!, '(root)', 'm.')).toEqual([
      'm.calls.1.rid: Expected string, received number',
      "(root): Unrecognized key(s) in object: 'extra'",
    ]);
  });

  it('names an issue about the whole value by the given word, never a blank path', () => {
    const r = schema.safeParse('not an object');
    expect(zodProblems(r.error!, '(job)')).toEqual(['(job): Expected object, received string']);
    expect(zodProblems(r.error!)).toEqual(['(root): Expected object, received string']);
  });
});
