import { z } from 'zod';
import { AUDIT_MEMBERS_PAGE, auditItemOf, isOpenIntent, membersShown, searchAuditPage, type MembersWindow } from '../../core/audit-query.ts';
import { AUDIT_ACTIONS, auditCsv, type AuditRecord } from '../../core/audit-trail.ts';
import { NotFoundError } from '../../core/errors.ts';
import { openCursor, sealCursor } from '../../core/paging.ts';
import { json, principalOf, type HttpEvent, type HttpResult } from '../shared/http.ts';
import { cursorSchema, isoTime, limitSchema } from '../shared/params.ts';
import type { CatalogueHandlerDeps } from './handler.ts';

// GET /sites/{site}/audit: the site's audit trail, newest first, filtered, a page at a time
// (JSON or CSV); a record naming more members than a page shows (a purge of a pack of 20,000
// calls: about 3 MB) is listed with its lists cut, and read whole in pages of its members with
// `?seq={seq}&offset={n}`.

const auditParamsSchema = z
  .object({
    from: isoTime.optional(),
    to: isoTime.optional(),
    principal: z.string().min(1, 'must not be empty').max(256, 'must be at most 256 characters').optional(),
    action: z.enum(AUDIT_ACTIONS, { errorMap: () => ({ message: `must be one of ${AUDIT_ACTIONS.join(', ')}` }) }).optional(),
    format: z.enum(['json', 'csv'], { errorMap: () => ({ message: 'must be json or csv' }) }).optional(),
    limit: limitSchema,
    cursor: cursorSchema.optional(),
  })
  .strict('unknown parameter (allowed: from, to, principal, action, format, limit, cursor; or seq, offset, limit for one record)')
  .refine((q) => q.from === undefined || q.to === undefined || Date.parse(q.from) <= Date.parse(q.to), { message: 'must not be after to', path: ['from'] });

const whole = (what: string, most: number) => z.string().regex(/^\d{1,16}$/, `must be a whole number (${what})`).transform(Number).refine((n) => Number.isSafeInteger(n) && n <= most, `must be at most ${most}`);
const recordParamsSchema = z
  .object({
    seq: whole('the seq of a record', Number.MAX_SAFE_INTEGER).refine((n) => n >= 1, 'must be 1 or more'),
    offset: whole('members to skip', Number.MAX_SAFE_INTEGER).default('0'),
    limit: whole(`members to show, 1 to ${AUDIT_MEMBERS_PAGE}`, AUDIT_MEMBERS_PAGE).refine((n) => n >= 1, 'must be 1 or more').default(String(AUDIT_MEMBERS_PAGE)),
  })
  .strict('unknown parameter (one record takes: seq, offset, limit)');

/** The site's audit trail, newest first, filtered; JSON `{ items, cursor }` or CSV (the cursor in `X-Ferry-Cursor`); with `seq`, one record. */
export async function auditView(deps: CatalogueHandlerDeps, event: HttpEvent, site: string): Promise<HttpResult> {
  if (event.queryStringParameters?.seq !== undefined) return auditRecordView(deps, event, site);
  const { cursor, format, ...filters } = auditParamsSchema.parse(event.queryStringParameters ?? {});
  if (!deps.auditTrail) return notHere();
  const scope = { listing: 'audit', site, query: filters };
  const below = cursor === undefined ? undefined : Number(openCursor(cursor, scope, deps.cursorKey));
  const filter = { from: filters.from ? new Date(filters.from) : undefined, to: filters.to ? new Date(filters.to) : undefined, principal: filters.principal, action: filters.action };
  const page = await searchAuditPage(deps.auditTrail, { site, filter, limit: filters.limit, below });
  // Reading the trail is itself an access to audit: recorded like a search, after the read.
  const { limit: _limit, ...audited } = filters;
  await deps.audit({ at: deps.clock.now().toISOString(), action: 'search', site, query: { audit: format ?? 'json', ...audited }, principal: principalOf(event) });
  const next = page.below === undefined ? null : sealCursor(String(page.below), scope, deps.cursorKey);
  if (format === 'csv') {
    const headers: Record<string, string> = { 'Content-Type': 'text/csv; charset=utf-8', 'Content-Disposition': `attachment; filename="audit-${site}.csv"` };
    if (next) headers['X-Ferry-Cursor'] = next;
    return { statusCode: 200, headers, body: auditCsv(page.records.map((r) => withCutNoted(r, page.cut?.[r.seq]))) };
  }
  // A deletion begun whose outcome is not recorded yet is marked open (the purge's own note of it).
  const begun = page.records.some((r) => r.event.action === 'purge-intent');
  const open = begun && deps.auditTrail.openIntents ? await deps.auditTrail.openIntents(site) : [];
  const items = page.records.map((r) => ({ ...auditItemOf(r, page.cut?.[r.seq]), ...(isOpenIntent(r, open) ? { open: true as const } : {}) }));
  return json(200, { items, cursor: next });
}

/**
 * One record, its lists from `offset`, `limit` entries at most (`members` says where each list
 * stands, `next` the offset to go on from, null at the end): the whole of a record too large for
 * a page of the trail, read in pages.
 */
async function auditRecordView(deps: CatalogueHandlerDeps, event: HttpEvent, site: string): Promise<HttpResult> {
  const { seq, offset, limit } = recordParamsSchema.parse(event.queryStringParameters ?? {});
  if (!deps.auditTrail) return notHere();
  const head = await deps.auditTrail.head(site);
  const record = head && seq <= head.seq ? await deps.auditTrail.read(site, seq) : undefined;
  if (!record) throw new NotFoundError(`site ${site} has no audit record ${seq}${head ? ` (its trail ends at ${head.seq})` : ' (its trail is empty)'}`);
  await deps.audit({ at: deps.clock.now().toISOString(), action: 'search', site, query: { audit: 'record', seq, offset }, principal: principalOf(event) });
  const shown = membersShown(record, offset, limit);
  const end = Math.max(0, ...Object.values(shown.members ?? {}).map((m) => m.total));
  return json(200, { item: auditItemOf(shown.record, shown.members), next: offset + limit < end ? offset + limit : null });
}

/** A cut record as the CSV has it: its detail says which lists are cut and where the rest is read. */
function withCutNoted(record: AuditRecord, cut: Record<string, MembersWindow> | undefined): AuditRecord {
  if (!cut || !record.event.detail) return record;
  const note = Object.entries(cut).map(([name, m]) => `${name}: first ${m.shown} of ${m.total}`).join('; ');
  return { ...record, event: { ...record.event, detail: { ...record.event.detail, shown: `${note} (the whole record: GET /sites/${record.site}/audit?seq=${record.seq}; the hash is the whole record's)` } } };
}

function notHere(): HttpResult {
  return json(501, { error: 'NotImplemented', message: 'the audit view is not available here: this function has no audit trail to read' });
}
