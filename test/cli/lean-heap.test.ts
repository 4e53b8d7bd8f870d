import { describe, it, expect } from 'vitest';
import { leanHeap } from '../../cli/lean-heap.ts';

describe('agent heap profile', () => {
  it('sets a lean heap growth unless the operator chose one', () => {
    expect(leanHeap(['--heap-growing-percent=50'], '')).toBe(false);
    expect(leanHeap([], '--max-old-space-size=512 --heap-growing-percent=10')).toBe(false);
    expect(leanHeap([], '')).toBe(true);
  });
});
