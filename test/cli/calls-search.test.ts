import { describe, expect, it } from 'vitest';
import { renderCalls, searchCallPages } from '../../cli/calls-commands.ts';
import type { CatalogueEntry } from '../../core/ports.ts';

// `ferry calls search` as a compliance officer reads it: a count that is a page's says so, and a
// filter given empty (an unset shell variable) is refused, never dropped (dropped, it lists every call).

const entry = (i: number) => ({ site: 'site-a', rid: `r${String(i).padStart(23, '0')}`, start: `2026-03-01T09:0${i}:00.000Z`, meta: { callId: `c${i}`, agent: 'Siobhán', caller: '+441', called: '+442', durationSec: 30 } }) as unknown as CatalogueEntry;

describe('ferry calls search', () => {
  it('says the count is one page and how to see the rest when more calls match', () => {
    expect(renderCalls([entry(1), entry(2)], true).trim().split('\n').at(-1)).toBe('2 recording(s) shown; more match: --all lists every one (or --limit N, up to 1000 a page)');
    expect(renderCalls([entry(1), entry(2)]).trim().split('\n').at(-1)).toBe('2 recording(s)');
  });

  it('refuses a filter given empty, naming the option, before asking anything', async () => {
    await expect(searchCallPages({ site: 'site-a', number: '' })).rejects.toThrow(/^--number is empty: give a value, or leave the option out$/);
    await expect(searchCallPages({ site: 'site-a', callId: '  ' })).rejects.toThrow(/^--call-id is empty/);
  });
});
