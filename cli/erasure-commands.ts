import type { Command } from 'commander';
import type { ErasureRecord } from '../core/erasure-items.ts';
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

/** `ferry erasures list`. */
export function registerErasuresCommands(program: Command): void {
  const group = program.command('erasures').description("data subjects' erasure requests: pending until the purge deleted the call's bytes, then done");
  common(group.command('list').description('every erasure request of a site, pending and done, with who asked and when')).action(async (opts: SiteOptions) => {
    const out = await getJson<{ site: string; items: ErasureRecord[] }>(apiFor(opts), `${sitePath(opts.site)}/erasures`);
    const pending = out.items.filter((e) => e.status !== 'done').length;
    const lines = [...out.items.map(erasureLine), `${out.items.length} erasure request(s): ${pending} pending, ${out.items.length - pending} done`];
    process.stdout.write(opts.json ? `${JSON.stringify(out, null, 2)}\n` : `${lines.join('\n')}\n`);
  });
}
