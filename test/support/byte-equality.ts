import { expect } from 'vitest';

// Byte arrays compared as bytes: vitest's generic deep equality walks a Buffer index by index
// (a 2 MB recording took 30 s to compare). Two views of the same type are equal when their
// bytes are; anything else falls through to the default rules.
expect.addEqualityTesters([
  function bytesEqual(a: unknown, b: unknown): boolean | undefined {
    if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array) || a.constructor !== b.constructor) return undefined;
    return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
  },
]);
