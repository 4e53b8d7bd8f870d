import { AUDIT_CLASS } from './audit-trail.ts';
import { ERASURES_PREFIX } from './erasure-items.ts';
import { EXPORTS_PREFIX } from './exports.ts';
import { CASES_PREFIX, HOLDS_PREFIX } from './hold-mirror.ts';
import { DATA_CLASSES } from './layout.ts';
import { REPORTS_PREFIX } from './report-keys.ts';

// Every top-level prefix of the data bucket: each holds objects of one site under
// `{class}/{site}/`. `ferry cost now` lists them; the DR replication rules name them.

/**
 * The top-level prefixes that hold a site's objects, `{class}/{site}/`: the data classes, the
 * sealed audit trail, the legal hold, case and erasure records, the daily reports, scrubs and
 * drills, and the case export bundles.
 */
export const STORED_CLASSES: readonly string[] = [...DATA_CLASSES, AUDIT_CLASS, ...[HOLDS_PREFIX, CASES_PREFIX, ERASURES_PREFIX, REPORTS_PREFIX, EXPORTS_PREFIX].map((p) => p.slice(0, -1))];

/** Every prefix under which a site's objects lie. */
export function storedPrefixes(site: string): string[] {
  return STORED_CLASSES.map((c) => `${c}/${site}/`);
}

/** The top-level prefixes replicated to the DR bucket: every one a site's objects lie under but the export bundles'. */
export const REPLICATED_CLASSES: readonly string[] = STORED_CLASSES.filter((c) => `${c}/` !== EXPORTS_PREFIX);
