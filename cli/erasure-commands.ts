import type { Command } from 'commander';
import type { ErasureRecord } from '../core/erasure-items.ts';
import { ERASURE_STATUSES, ERASURES_PAGE_MAX, type ErasureStatus } from '../core/erasure-pages.ts';
import { InvalidInputError } from '../core/errors.ts';
import { collectPages } from '../core/paging.ts';
import { apiFor, getJson, type CloudOptions } from './api-client.ts';
import { postJson } from './hold-commands.ts';
import { printable } from './printable.ts';

// A data subject's erasure request from the command line, through the same API route as the
// console (functions/holds): `ferry calls erase` records it, `ferry erasures list` shows where
// each stands. The purge carries it out (core/erasure-purge.ts); until then it is `pending`.

interface SiteOptions extends CloudOptions {
  site: string;
  json?: boolean;
}

const sitePath = (site: string) => `/sites/${encodeURIComponent(site)}`;

const common = (c: Command) => c.requiredOption('--site <site>', 'site name').option('--json', 'JSON output').option('--api <url>', 'catalogue API base URL').option('-c, --config <file>', 'agent config whose cloud to use');

/** One request as a person reads it; every text an officer typed is shown, never obeyed, by the terminal. */
export function erasureLine(e: ErasureRecord): string {
  const waits = e.waiting ? `pending: ${printable(e.waiting)} (purge of ${printable(e.waitingAt)})` : 'pending (the purge deletes its bytes once the pack\'s Object Lock allows)';
  const state = e.status === 'done' ? `done ${printable(e.doneAt)}${e.doneNote ? ` (${printable(e.doneNote)})` : ''}` : waits;
  const reference = e.reference ? ` ${printable(e.reference)}` : '';
  return `${printable(e.rid)}  ${state}\n  requested${reference} by ${printable(e.requestedBy)} at ${printable(e.requestedAt)}: ${printable(e.reason)}\n  ${printable(e.call)}`;
}

/** `ferry calls erase`: joins the `calls` group. */
export function registerEraseCommand(calls: Command): void {
  common(calls.command('erase').description("a data subject's erasure request: the call is out of reach at once, its bytes go at the next purge its pack's Object Lock allows"))
    .requiredOption('--rid <rid>', 'recording id')
    .requiredOption('--reason <text>', 'why (the request, without personal data)')
    .option('--reference <text>', 'the request reference (DSAR-…)')
    .action(async (opts: SiteOptions & { rid: string; reason: string; reference?: string }) => {
      const body = { rid: opts.rid, reason: opts.reason, ...(opts.reference ? { reference: opts.reference } : {}) };
      const out = await postJson<{ erasure: ErasureRecord; existing?: boolean }>(opts, `${sitePath(opts.site)}/erasures`, body);
      const head = out.existing ? 'erasure already requested (nothing new recorded):' : 'erasure requested: the call is no longer searchable or playable;';
      process.stdout.write(opts.json ? `${JSON.stringify(out, null, 2)}\n` : `${head}\n${erasureLine(out.erasure)}\n`);
    });
}

interface ListOptions extends SiteOptions {
  limit?: string;
  status?: string;
  reference?: string;
}

/** `--limit` and `--status` as given, checked by name (an empty value from an unset shell variable is refused, never dropped). */
function listFilters(opts: ListOptions): { limit?: number; status?: ErasureStatus } {
  if (opts.limit !== undefined && !/^[1-9]\d{0,8}$/.test(opts.limit.trim())) throw new InvalidInputError(`--limit: must be a whole number from 1, got "${opts.limit}"`);
  if (opts.status !== undefined && !ERASURE_STATUSES.includes(opts.status as ErasureStatus)) throw new InvalidInputError(`--status: must be ${ERASURE_STATUSES.join(' or ')}, got "${opts.status}"`);
  return { ...(opts.limit !== undefined ? { limit: Number(opts.limit) } : {}), ...(opts.status !== undefined ? { status: opts.status as ErasureStatus } : {}) };
}

/**
 * The site's requests, newest first, page after page until the last (or `limit` of them: the
 * pages asked for are no bigger than what is still wanted); `more` when `limit` stopped it early.
 */
export async function listErasurePages(opts: ListOptions): Promise<{ items: ErasureRecord[]; more: boolean }> {
  const { limit, status } = listFilters(opts);
  if (opts.reference !== undefined && !opts.reference.trim()) throw new InvalidInputError('--reference: must not be empty (the reference of the data subject\'s request, e.g. DSAR-2026-118)');
  const reference = opts.reference?.trim();
  const api = apiFor(opts);
  let got = 0;
  let more = false;
  const items = await collectPages(async (cursor) => {
    // One data subject's requests are found among all of the site's: pages are read whole, `limit` counts those that match.
    const want = limit === undefined || reference !== undefined ? ERASURES_PAGE_MAX : Math.min(ERASURES_PAGE_MAX, limit - got);
    const query = new URLSearchParams({ limit: String(want), ...(status ? { status } : {}), ...(cursor ? { cursor } : {}) });
    const page = await getJson<{ items: ErasureRecord[]; cursor?: string }>(api, `${sitePath(opts.site)}/erasures?${query}`);
    const matched = reference === undefined ? page.items : page.items.filter((e) => e.reference === reference);
    const kept = limit === undefined ? matched : matched.slice(0, limit - got);
    got += kept.length;
    const stop = limit !== undefined && got >= limit;
    more = stop && (page.cursor !== undefined || kept.length < matched.length);
    return { items: kept, ...(page.cursor && !stop ? { cursor: page.cursor } : {}) };
  });
  return { items, more };
}

/** The last line: how many, how many of each state, and whether more follow. */
function summary(items: readonly ErasureRecord[], more: boolean, status: string | undefined, reference?: string): string {
  const pending = items.filter((e) => e.status !== 'done').length;
  const of = reference ? ` of reference ${printable(reference.trim())}` : '';
  const counts = status ? `${items.length} ${status} erasure request(s)${of}` : `${items.length} erasure request(s)${of}: ${pending} pending, ${items.length - pending} done`;
  return more ? `${counts} shown, newest first; more follow (without --limit every one is listed)` : counts;
}

/** `ferry erasures list`. */
export function registerErasuresCommands(program: Command): void {
  const group = program.command('erasures').description("data subjects' erasure requests: pending until the purge deleted the call's bytes, then done");
  common(group.command('list').description('the erasure requests of a site, newest first, pending and done, with who asked and when'))
    .option('--status <status>', 'only pending or only done requests')
    .option('--limit <n>', 'stop after the newest N requests (default: every one)')
    .option('--reference <text>', "only the requests of this reference (one data subject's request, e.g. DSAR-2026-118)")
    .action(async (opts: ListOptions) => {
      const { items, more } = await listErasurePages(opts);
      if (opts.json) {
        if (more) process.stderr.write(`ferry: ${summary(items, more, opts.status, opts.reference)}\n`);
        process.stdout.write(`${JSON.stringify({ site: opts.site, items, ...(more ? { more } : {}) }, null, 2)}\n`);
        return;
      }
      process.stdout.write(`${[...items.map(erasureLine), summary(items, more, opts.status, opts.reference)].join('\n')}\n`);
    });
}
