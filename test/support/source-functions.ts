import { systemClock } from '../../core/clock.ts';
import type { BlobStore, CatalogueStore } from '../../core/ports.ts';
import type { RecallStarter } from '../../core/recall.ts';
import type { RecallStatusStore } from '../../core/recall-status.ts';
import { createArtefactsHandler } from '../../functions/artefacts/handler.ts';
import { createCatalogueHandler } from '../../functions/catalogue/handler.ts';
import { createReplayHandler } from '../../functions/replay/handler.ts';
import type { Audit } from '../../functions/shared/audit.ts';

// The API and replay functions built in process from their sources, over stores a test holds
// (memory fakes): for tests of the local front doors (routing, SigV4, sessions, links). The
// local cloud runs the deployed bundles instead (local/api-functions.ts, test/local/api-bundles.test.ts).

export interface SourceFunctionsDeps {
  catalogue: CatalogueStore;
  blobs?: BlobStore;
  audit?: Audit;
  cursorKey?: string;
  recall?: RecallStarter;
  /** The recall status records the catalogue reads (GET …/recall). */
  recalls?: Pick<RecallStatusStore, 'get'>;
}

export function sourceFunctions(deps: SourceFunctionsDeps) {
  const shared = { audit: deps.audit ?? (() => undefined), clock: systemClock, log: () => undefined };
  const cursorKey = deps.cursorKey ?? 'k'.repeat(32);
  return {
    functions: {
      catalogue: createCatalogueHandler({
        ...{ ...shared, catalogue: deps.catalogue, cursorKey },
        ...(deps.recall ? { recall: deps.recall } : {}),
        ...(deps.recalls ? { recalls: deps.recalls } : {}),
      }),
      artefacts: createArtefactsHandler({ ...shared, catalogue: deps.catalogue, cursorKey }),
    },
    replay: deps.blobs ? createReplayHandler({ ...shared, catalogue: deps.catalogue, blobs: deps.blobs }) : undefined,
  };
}
