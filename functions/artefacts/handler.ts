import middy from '@middy/core';
import { z } from 'zod';
import type { Clock } from '../../core/clock.ts';
import { NAME_PATTERN } from '../../core/layout.ts';
import type { BlobStore, CatalogueStore } from '../../core/ports.ts';
import { planRestoreFromCatalogue } from '../../core/restore-source.ts';
import type { Audit } from '../shared/audit.ts';
import { openCursor, sealCursor } from '../../core/paging.ts';
import { cloudDeps, cursorKeyFrom } from '../shared/deps.ts';
import { httpErrors } from '../shared/errors.ts';
import { queryEncoding } from '../shared/query-encoding.ts';
import { json, principalOf, type HttpEvent, type HttpResult } from '../shared/http.ts';
import { asHandler, lazyHandler, type Handler } from '../shared/lambda.ts';
import type { Log } from '../shared/log.ts';
import { cursorSchema, isoTime, limitSchema, siteSchema } from '../shared/params.ts';

// Artefacts API (backups, log segments, archives):
//   GET /sites/{site}/artefacts?source&role&from&to&limit&cursor        the catalogue's list
//   GET /sites/{site}/sources/{source}/restore-plan?at=T[&logSource=L]  point-in-time plan
// A plan is 200; a refusal (T unreachable) is 422 with the reason and the nearest reachable
// time; a bad parameter is 400; an unknown source 404.

export interface ArtefactsHandlerDeps {
  catalogue: Pick<CatalogueStore, 'listArtefacts' | 'listArtefactSources'>;
  /** Lists manifests, to tell a source whose manifests the catalogue lacks from one that does not exist. */
  blobs?: Pick<BlobStore, 'list'>;
  audit: Audit;
  clock: Clock;
  /** HMAC key of the listing cursors (the deployment's CURSOR_KEY). */
  cursorKey: string;
  log?: Log;
}

const name = (what: string) => z.string().regex(NAME_PATTERN, `must be a ${what} name: 1-63 lowercase letters, digits or dashes`);

const listSchema = z
  .object({
    source: name('source').optional(),
    role: z.enum(['full', 'segment', 'archive'], { message: 'must be full, segment or archive' }).optional(),
    from: isoTime.optional(),
    to: isoTime.optional(),
    limit: limitSchema,
    cursor: cursorSchema.optional(),
  })
  .strict('unknown parameter (allowed: source, role, from, to, limit, cursor)')
  .refine((q) => q.from === undefined || q.to === undefined || Date.parse(q.from) <= Date.parse(q.to), { message: 'must not be after to', path: ['from'] });

const planSchema = z
  .object({ at: z.string({ required_error: 'is required: the time to restore to' }).pipe(isoTime), logSource: name('source').optional() })
  .strict('unknown parameter (allowed: at, logSource)');

async function list(deps: ArtefactsHandlerDeps, event: HttpEvent, site: string): Promise<HttpResult> {
  const query = listSchema.parse(event.queryStringParameters ?? {});
  const { cursor, ...audited } = query;
  const scope = { listing: 'artefacts', site, query: audited };
  const inner = cursor === undefined ? undefined : openCursor(cursor, scope, deps.cursorKey);
  const page = await deps.catalogue.listArtefacts({ site, ...audited, cursor: inner });
  await deps.audit({ at: deps.clock.now().toISOString(), action: 'search', site, query: { artefacts: 'list', ...audited }, principal: principalOf(event) });
  return json(200, { items: page.items, cursor: page.cursor ? sealCursor(page.cursor, scope, deps.cursorKey) : null });
}

async function restorePlan(deps: ArtefactsHandlerDeps, event: HttpEvent, site: string, rawSource: string | undefined): Promise<HttpResult> {
  const { source } = z.object({ source: name('source') }).parse({ source: rawSource });
  const { at, logSource } = planSchema.parse(event.queryStringParameters ?? {});
  const now = deps.clock.now();
  const result = await planRestoreFromCatalogue(deps.catalogue, { site, source, at, now, ...(logSource ? { logSource } : {}) }, deps.blobs);
  await deps.audit({ at: now.toISOString(), action: 'search', site, query: { restorePlan: source, at }, principal: principalOf(event) });
  if (result.ok) return json(200, result);
  return json(422, { error: 'RestoreRefusedError', message: result.reason, ...result });
}

export function createHandler(deps: ArtefactsHandlerDeps): Handler<HttpEvent, HttpResult> {
  const chain = middy(async (event: HttpEvent): Promise<HttpResult> => {
    const { site } = z.object({ site: siteSchema }).parse({ site: event.pathParameters?.site });
    return event.pathParameters && 'source' in event.pathParameters ? restorePlan(deps, event, site, event.pathParameters.source) : list(deps, event, site);
  }).use(httpErrors({ log: deps.log })).use(queryEncoding());
  return asHandler(chain);
}

export const handler = lazyHandler(() => createHandler({ ...cloudDeps(), cursorKey: cursorKeyFrom(process.env) }));

/** The same factory under a name that says which function it builds (for composition roots). */
export const createArtefactsHandler = createHandler;
