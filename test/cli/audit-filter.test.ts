import { describe, expect, it } from 'vitest';
import { auditFilter } from '../../cli/audit-commands.ts';

// `ferry audit search --from/--to` read as `ferry calls search` reads its times.

describe('ferry audit search times', () => {
  it('takes `now` (any case) as this moment, as `calls search --to now` does', () => {
    const at = new Date('2026-12-07T05:00:00.000Z');
    expect(auditFilter({ from: '2026-12-07T00:00:00Z', to: 'now' }, () => at).to).toEqual(at);
    expect(auditFilter({ to: ' NOW ' }, () => at).to).toEqual(at);
  });

  it('still refuses a time without a zone, naming it and saying `now` is taken', () => {
    expect(() => auditFilter({ to: '2026-03-01T09:00:00' })).toThrow(/to: "2026-03-01T09:00:00" must be an ISO 8601 date-time with a zone, e\.g\. .*, or now/);
  });
});
