import { z } from 'zod';
import { NotFoundError } from '../../core/errors.ts';
import { RECORDING_ID_PATTERN } from '../../core/ids.ts';
import type { CatalogueEntry, CatalogueStore } from '../../core/ports.ts';
import { archiveView, recallView, type ArchiveView, type PackTier, type RecallStatusStore } from '../../core/recall-status.ts';
import type { RecallStarter } from '../../core/recall.ts';
import type { Audit } from '../shared/audit.ts';
import { json, noBodyFields, principalOf, type HttpEvent, type HttpResult } from '../shared/http.ts';
import type { Clock } from '../../core/clock.ts';

// The catalogue's recall routes and a recording's archive state:
//  - POST …/recordings/{rid}/recall starts the recall workflow for the recording's pack (audited);
//  - GET …/recordings/{rid}/recall answers the pack's recall status record as it stands now
//    (`none` when never recalled, or once the restored copy expired). Not audited: it reads no
//    call, and the console polls it every few seconds while a recall runs;
//  - GET …/recordings/{rid} carries `archive`: the pack's tier predicted from the lifecycle rule
//    (PACK_TIERS) and its upload time (the pack record), combined with the recall status record.
//    No S3 read: these functions may not read packs.

const noQuery = z.object({}).strict('unknown parameter (this route takes none)');

export interface RecallRouteDeps {
  catalogue: Pick<CatalogueStore, 'getRecording' | 'getPack'>;
  /** Absent where no recall workflow is deployed: the recall route answers 501. */
  recall?: RecallStarter;
  /** Recall status records; absent: the status route answers 501 and recordings carry no `archive`. */
  recalls?: Pick<RecallStatusStore, 'get'>;
  /** The packs' lifecycle tiers; absent: recordings carry no `archive`. */
  packTiers?: PackTier[];
  audit: Audit;
  clock: Clock;
}

export const ridSchema = z.string().regex(RECORDING_ID_PATTERN, 'must be a recording id (r + 23 hex digits)');

async function entryOf(deps: RecallRouteDeps, site: string, rawRid: string): Promise<CatalogueEntry> {
  const rid = z.object({ rid: ridSchema }).parse({ rid: rawRid }).rid;
  const entry = await deps.catalogue.getRecording(site, rid);
  if (!entry) throw new NotFoundError(`no recording ${rid} in site ${site}`);
  return entry;
}

/** The recording's pack's archive state, or undefined when it cannot be derived (no tiers, no pack record). */
export async function archiveOf(deps: RecallRouteDeps, entry: CatalogueEntry): Promise<ArchiveView | undefined> {
  if (!deps.packTiers || !deps.recalls) return undefined;
  const [pack, record] = await Promise.all([deps.catalogue.getPack(entry.site, entry.packId), deps.recalls.get(entry.site, entry.packKey)]);
  if (!pack) return undefined;
  const now = deps.clock.now();
  return archiveView(pack, deps.packTiers, recallView(record, now), now);
}

/** Starts the recall of the recording's pack; the workflow notifies the requester when it plays again. */
export async function startRecall(deps: RecallRouteDeps, event: HttpEvent, site: string, rawRid: string): Promise<HttpResult> {
  const rid = z.object({ rid: ridSchema, query: noQuery }).parse({ rid: rawRid, query: event.queryStringParameters ?? {} }).rid;
  noBodyFields(event);
  if (!deps.recall) {
    const message = 'recall is not available here: no recall workflow is deployed with this catalogue';
    return json(501, { error: 'NotImplemented', message });
  }
  const entry = await entryOf(deps, site, rid);
  const principal = principalOf(event);
  const { execution } = await deps.recall.startRecall({ site, rid, requester: principal ?? 'unknown' });
  await deps.audit({ at: deps.clock.now().toISOString(), action: 'recall', site, rid, principal });
  const message =
    `recall of ${site}/${rid} started (pack ${entry.packKey}); ` +
    `the requester (${principal ?? 'unknown'}) is notified on the alert topic when it can be played`;
  return json(202, { site, rid, packKey: entry.packKey, execution, message });
}

/** The recall status of the recording's pack: `{ state: none|restoring|available|gave-up, requestedAt, availableUntil, … }`. */
export async function recallStatus(deps: RecallRouteDeps, event: HttpEvent, site: string, rawRid: string): Promise<HttpResult> {
  const entry = await entryOf(deps, site, rawRid);
  noQuery.parse(event.queryStringParameters ?? {});
  if (!deps.recalls) return json(501, { error: 'NotImplemented', message: 'recall status is not available here: this function has no recall records to read' });
  const view = recallView(await deps.recalls.get(site, entry.packKey), deps.clock.now());
  return json(200, { site, rid: entry.rid, packKey: entry.packKey, ...view });
}
