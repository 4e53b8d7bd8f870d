import type { CaseMemberCall } from '../core/case-members.ts';
import { printable } from './printable.ts';
import type { Command } from 'commander';
import { signedFetch } from '../adapters/sigv4.ts';
import { CASE_HOLD_BATCH } from '../core/case-holds.ts';
import { ApiError, apiFor, getJson, type CloudOptions } from './api-client.ts';

// Legal hold from the command line, through the same API routes as deployed (functions/holds):
//   ferry hold place|release|list, ferry case create|show|add.
// Each prints the API's JSON answer with --json, else one line a person reads.

interface SiteOptions extends CloudOptions {
  site: string;
  json?: boolean;
}

/** POSTs JSON to the API, signed; a non-2xx answer becomes an ApiError naming what was wrong. */
export async function postJson<T>(opts: CloudOptions, path: string, body: unknown): Promise<T> {
  const api = apiFor(opts);
  const res = await signedFetch(`${api.url}${path}`, { service: 'execute-api', region: api.region, credentials: api.credentials, method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const text = await res.text();
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { message: text };
  }
  if (!res.ok) throw new ApiError(res.status, parsed, `catalogue API answered ${res.status}: ${typeof parsed.message === 'string' ? parsed.message : text}`);
  return parsed as T;
}

const sitePath = (site: string) => `/sites/${encodeURIComponent(site)}`;

function target(opts: { rid?: string; case?: string }): { rid?: string; caseId?: string } {
  if ((opts.rid === undefined) === (opts.case === undefined)) throw new Error('give exactly one of --rid or --case');
  return opts.rid !== undefined ? { rid: opts.rid } : { caseId: opts.case };
}

const print = (json: boolean | undefined, value: unknown, line: string) => process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${line}\n`);

interface HoldOutcome {
  holds: { rid: string; placedAt?: string; placedBy?: string }[];
  objects: string[];
  /** The same matter's hold stood already: nothing new was placed. */
  existing?: boolean;
  /** A case's members retention deleted before the hold. */
  gone?: string[];
  /** A case: on hold yet, and how many members the next request holds. */
  held?: boolean;
  remaining?: number;
  /** Calls held over every request (a case held in parts). */
  placed?: number;
  /** A case: how many calls it lists. */
  members?: number;
}

const count = (n: number) => n.toLocaleString('en-GB');

/**
 * Releases a hold; a case a part at a time (202 with `remaining`, the case still held), asked
 * again until it is released, the progress on stderr. The answer: the last part's, with the hold
 * records and objects of every part.
 */
async function releaseInParts(opts: SiteOptions, body: { rid?: string; caseId?: string; reason: string; reference?: string }): Promise<HoldOutcome> {
  const path = `${sitePath(opts.site)}/holds/release`;
  let out = await postJson<HoldOutcome>(opts, path, body);
  const holds = [...out.holds];
  const objects = [...out.objects];
  while (out.held === true && (out.remaining ?? 0) > 0) {
    const members = out.members ?? 0;
    process.stderr.write(`case ${body.caseId}: released ${count(members - out.remaining!)} of ${count(members)} calls…\n`);
    out = await postJson<HoldOutcome>(opts, path, body);
    holds.push(...out.holds);
    objects.push(...out.objects);
  }
  return { ...out, holds, objects: [...new Set(objects)] };
}

const common = (c: Command) => c.requiredOption('--site <site>', 'site name').option('--json', 'JSON output').option('--api <url>', 'catalogue API base URL').option('-c, --config <file>', 'agent config whose cloud to use');

/** The `case` group, created by whichever of the case modules registers first (records here, export in case-commands.ts). */
export function caseGroup(program: Command): Command {
  return program.commands.find((c) => c.name() === 'case') ?? program.command('case').description('cases: named sets of calls with a reason and a reference; their export with chain of custody');
}

/** A case's call as `ferry case show` prints it: id, start (UTC), site, call id, agent and tier where the API gives them. */
function memberLine(rid: string, call: CaseMemberCall | undefined): string {
  if (!call) return rid;
  const archive = call.archive?.state === 'archived' || call.archive?.state === 'restoring' ? `  ARCHIVED (${call.archive.storageClass}, ${call.archive.state}): \`ferry calls recall ${call.site}/${rid}\` before export` : '';
  return `${rid}  ${call.start}  ${call.site}  ${call.callId ?? '-'}  ${call.agent ?? '-'}${archive}`;
}

export function registerHoldCommands(program: Command): void {
  const hold = program.command('hold').description('legal hold on a call or a case: nothing held can be purged or deleted');
  common(hold.command('place').description('place a legal hold (sets S3 Object Lock legal hold on the objects concerned)'))
    .option('--rid <rid>', 'recording id')
    .option('--case <id>', 'case id')
    .requiredOption('--reason <text>', 'why the hold is placed')
    .option('--reference <text>', 'matter or ticket reference')
    .action(async (opts: SiteOptions & { rid?: string; case?: string; reason: string; reference?: string }) => {
      const body = { ...target(opts), reason: opts.reason, ...(opts.reference ? { reference: opts.reference } : {}) };
      let out = await postJson<HoldOutcome>(opts, `${sitePath(opts.site)}/holds`, body);
      // A case is held a part at a time (202 with `remaining`): asked again until it is on hold.
      let placed = out.holds.length;
      while (out.held === false && (out.remaining ?? 0) > 0) {
        process.stderr.write(`case ${opts.case}: ${placed} call(s) held, ${out.remaining} to go\n`);
        out = await postJson<HoldOutcome>(opts, `${sitePath(opts.site)}/holds`, body);
        placed += out.holds.length;
      }
      if (opts.case !== undefined) out = { ...out, placed };
      const already = out.existing ? ` (already held for this matter since ${out.holds[0]?.placedAt ?? '?'}, by ${out.holds[0]?.placedBy ?? '?'}: nothing new placed)` : '';
      const gone = out.gone?.length ? `\n  ${out.gone.length} member(s) of the case are no longer in the archive (deleted by retention before the hold): ${out.gone.join(', ')}` : '';
      print(opts.json, out, `held: ${out.placed ?? out.holds.length} call(s); legal hold ON on ${out.objects.length} object(s)${already}${gone}`);
    });
  common(hold.command('release').description('release a legal hold (a reason is required)'))
    .option('--rid <rid>', 'recording id')
    .option('--case <id>', 'case id')
    .requiredOption('--reason <text>', 'why the hold is released')
    .option('--reference <text>', "which of the call's holds (its matter's reference), when it is held for several")
    .action(async (opts: SiteOptions & { rid?: string; case?: string; reason: string; reference?: string }) => {
      const out = await releaseInParts(opts, { ...target(opts), reason: opts.reason, ...(opts.reference ? { reference: opts.reference } : {}) });
      print(opts.json, out, `released: ${out.holds.length} hold(s); legal hold OFF on ${out.objects.length} object(s) (objects still holding another held call stay ON)`);
    });
  common(hold.command('list').description('active legal holds of a site'))
    .option('--rid <rid>', 'only this recording')
    .option('--history', 'released holds too (who released, when, why)')
    .action(async (opts: SiteOptions & { rid?: string; history?: boolean }) => {
      // Every page (the API answers up to 1000 records a page).
      const out: { active: Record<string, unknown>[]; released?: Record<string, unknown>[] } = { active: [], ...(opts.history ? { released: [] } : {}) };
      let cursor: string | undefined;
      do {
        const q = new URLSearchParams({ ...(opts.rid ? { rid: opts.rid } : {}), ...(opts.history ? { history: 'true' } : {}), ...(cursor ? { cursor } : {}) });
        const page = await getJson<{ active: Record<string, unknown>[]; released?: Record<string, unknown>[]; cursor?: string }>(apiFor(opts), `${sitePath(opts.site)}/holds${q.size ? `?${q}` : ''}`);
        out.active.push(...page.active);
        out.released?.push(...(page.released ?? []));
        cursor = page.cursor;
      } while (cursor);
      const row = (h: Record<string, unknown>) => {
        const scope = h.scope as { kind: string; caseId?: string };
        // Reasons are typed by officers: shown, never obeyed, by the terminal.
        const released = h.releasedAt ? `  released ${printable(h.releasedAt)} by ${printable(h.releasedBy)}: ${printable(h.releaseReason)}` : '';
        return `${printable(h.rid)}  ${scope.kind === 'case' ? `case ${printable(scope.caseId)}` : 'call'}  placed ${printable(h.placedAt)} by ${printable(h.placedBy)}: ${printable(h.reason)}${released}`;
      };
      const lines = [...out.active.map(row), ...(out.released ?? []).map(row), `${out.active.length} active hold(s)${out.released ? `, ${out.released.length} released` : ''}`];
      print(opts.json, out, lines.join('\n'));
    });

}

/** `ferry case create|show|add`: the case records legal holds work on. */
export function registerCaseRecordCommands(program: Command): void {
  const cases = caseGroup(program);
  common(cases.command('create').description('create a case'))
    .requiredOption('--name <name>', 'case name')
    .requiredOption('--reason <text>', 'why the case exists')
    .option('--reference <text>', 'matter or ticket reference')
    .option('--id <id>', 'case id (default: generated)')
    .option('--rid <rid...>', 'calls to put in the case')
    .action(async (opts: SiteOptions & { name: string; reason: string; reference?: string; id?: string; rid?: string[] }) => {
      const body = { name: opts.name, reason: opts.reason, ...(opts.reference ? { reference: opts.reference } : {}), ...(opts.id ? { caseId: opts.id } : {}), ...(opts.rid ? { rids: opts.rid } : {}) };
      const out = await postJson<{ caseId: string; members: string[] }>(opts, `${sitePath(opts.site)}/cases`, body);
      print(opts.json, out, `case ${out.caseId} created with ${out.members.length} call(s)`);
    });
  common(cases.command('show').description('one case, its calls and their holds').argument('<case>', 'case id')).action(async (id: string, opts: SiteOptions) => {
    const out = await getJson<{ caseId: string; name: string; reason: string; members: string[]; held?: { by: string; at: string; reason: string }; gone?: string[]; memberCalls?: Record<string, CaseMemberCall> }>(apiFor(opts), `${sitePath(opts.site)}/cases/${encodeURIComponent(id)}`);
    const held = out.held ? `on hold since ${out.held.at} (by ${out.held.by}: ${out.held.reason})` : 'not on hold';
    const gone = new Set(out.gone ?? []);
    const members = out.members.map((rid) => (gone.has(rid) ? `${rid}  (no longer in the archive: deleted by retention; \`ferry audit search --action purge\` names it)` : memberLine(rid, out.memberCalls?.[rid])));
    const count = `${out.members.length} call(s)${gone.size ? `, ${gone.size} of them no longer in the archive` : ''}`;
    print(opts.json, out, [`case ${out.caseId}: ${out.name} (${out.reason}); ${held}`, ...members, count].join('\n'));
  });
  common(cases.command('add').description('add calls to a case (held at once when the case is on hold)').argument('<case>', 'case id'))
    .requiredOption('--rid <rid...>', 'calls to add')
    .action(async (id: string, opts: SiteOptions & { rid: string[] }) => {
      // A held case takes CASE_HOLD_BATCH new calls a request (each held before it is added): sent in parts, each
      // part again while the answer says members of the case remain unheld (202).
      const out = { added: [] as string[], objects: [] as string[] };
      const rids = [...new Set(opts.rid)];
      for (let i = 0; i < rids.length; i += CASE_HOLD_BATCH) {
        let part: { added: string[]; objects: string[]; remaining?: number };
        do {
          part = await postJson<{ added: string[]; objects: string[]; remaining?: number }>(opts, `${sitePath(opts.site)}/cases/${encodeURIComponent(id)}/calls`, { rids: rids.slice(i, i + CASE_HOLD_BATCH) });
          out.added.push(...part.added);
          out.objects.push(...part.objects);
        } while ((part.remaining ?? 0) > 0);
      }
      print(opts.json, out, `added ${out.added.length} call(s) to case ${id}${out.objects.length ? `; legal hold ON on ${new Set(out.objects).size} object(s)` : ''}`);
    });
}
