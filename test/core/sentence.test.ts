import { describe, expect, it } from 'vitest';
import { sentence } from '../../core/alert-text.ts';

// An error's message put before more text: one full stop, whether or not the service ended it itself.

describe('sentence', () => {
  it('adds a full stop to a message without one and keeps the one a message ends with (before a closing quote or bracket too)', () => {
    expect(sentence('cannot scan /srv/backups: EACCES')).toBe('cannot scan /srv/backups: EACCES.');
    expect(sentence('Check your key and signing method.')).toBe('Check your key and signing method.');
    expect(sentence('Is the share mounted?  ')).toBe('Is the share mounted?');
    expect(sentence('it said "stop."')).toBe('it said "stop."');
    expect(sentence('(see the log.)')).toBe('(see the log.)');
    expect(sentence('not taken (is the share mounted?)')).toBe('not taken (is the share mounted?)');
    expect(sentence('3 files (2 MB)')).toBe('3 files (2 MB).');
  });
});
