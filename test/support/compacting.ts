import { afterEach } from 'vitest';
import { Journal } from '../../agent/journal.ts';

const lineCount = Object.getOwnPropertyDescriptor(Journal.prototype, 'lineCount')!;

/** Passes run while this is set compact the journal, as after thousands of packs; put back after each test. */
export function compacting(on: boolean): void {
  if (on) Object.defineProperty(Journal.prototype, 'lineCount', { get: () => 1_000_000, configurable: true });
  else Object.defineProperty(Journal.prototype, 'lineCount', lineCount);
}

afterEach(() => compacting(false));
