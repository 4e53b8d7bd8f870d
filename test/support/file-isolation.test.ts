import { describe, it, expect } from 'vitest';
import { envChanges } from './file-isolation.ts';

// The guard that fails a test file which leaves a variable behind for the next file in its worker.
describe('the environment a test file leaves behind', () => {
  it('names a variable set, changed or removed, and nothing for an equal environment', () => {
    const before = { HOME: '/root', AWS_REGION: 'eu-west-2', GONE: 'x' };
    expect(envChanges(before, { ...before })).toEqual([]);
    expect(envChanges(before, { HOME: '/root', AWS_REGION: 'us-east-1', FERRY_BUCKET: 'b' })).toEqual(['AWS_REGION', 'FERRY_BUCKET', 'GONE']);
  });
});
