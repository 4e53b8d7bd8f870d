import type { Clock } from './clock.ts';
import { mapLimit } from './map-limit.ts';
import { recordingLookupKey, type CatalogueEntry, type CatalogueStore } from './ports.ts';
import { archiveView, recallView, type ArchiveView, type PackTier, type RecallStatusStore } from './recall-status.ts';

// What a case shows of each of its calls besides its id: when it started, where, who took it
// and, where the reader knows the packs' tiers, whether it is archived. All of it comes from the
// catalogue entries the case read already (one BatchGetItem per 100 members), the pack records
// and the recall status records of the table: no read of the bucket. An officer sees which
// calls of a case are archived before an export is refused on the first of them.

/** One member of a case as GET …/cases/{case} answers it (`memberCalls`). */
export interface CaseMemberCall {
  /** Start of the call, ISO UTC. */
  start: string;
  site: string;
  callId?: string;
  agent?: string;
  /** The pack's tier and recall, as GET …/recordings/{rid} gives it; absent where the reader has no tiers. */
  archive?: ArchiveView;
}

/** How the tier is predicted (the catalogue's recording route does the same): absent, no `archive`. */
export interface MemberTierDeps {
  packs: Pick<CatalogueStore, 'getPack'>;
  recalls: Pick<RecallStatusStore, 'get'>;
  tiers: PackTier[];
  clock: Clock;
}

/** Pack and recall records read at once: a case spans a handful of packs, each read once. */
const PACK_READS = 8;

async function archivesOf(deps: MemberTierDeps, entries: CatalogueEntry[]): Promise<Map<string, ArchiveView>> {
  const packs = [...new Map(entries.map((e) => [e.packKey, e])).values()];
  const now = deps.clock.now();
  const views = await mapLimit(packs, PACK_READS, async (e) => {
    const [pack, recall] = await Promise.all([deps.packs.getPack(e.site, e.packId), deps.recalls.get(e.site, e.packKey)]);
    return [e.packKey, pack ? archiveView(pack, deps.tiers, recallView(recall, now), now) : undefined] as const;
  });
  return new Map(views.filter((v): v is readonly [string, ArchiveView] => v[1] !== undefined));
}

/** The members the catalogue holds, by rid, in the case's order. */
export async function memberCallsOf(found: Map<string, CatalogueEntry>, site: string, members: readonly string[], tiers?: MemberTierDeps): Promise<Record<string, CaseMemberCall>> {
  const entries = members.map((rid) => found.get(recordingLookupKey(site, rid))).filter((e): e is CatalogueEntry => e !== undefined);
  const archives = tiers ? await archivesOf(tiers, entries) : new Map<string, ArchiveView>();
  const out: Record<string, CaseMemberCall> = {};
  for (const e of entries) {
    const archive = archives.get(e.packKey);
    out[e.rid] = { start: e.start, site: e.site, ...(e.meta.callId ? { callId: e.meta.callId } : {}), ...(e.meta.agent ? { agent: e.meta.agent } : {}), ...(archive ? { archive } : {}) };
  }
  return out;
}
