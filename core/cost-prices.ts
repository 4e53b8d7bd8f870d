import { z } from 'zod';
import eu2026 from './prices/aws-s3-eu-west-1-2026-11.json' with { type: 'json' };

// Dated price tables, kept in the repo so an estimate can always say which prices it used. A
// new table is a new dated file beside the old one (estimates made with the old one stay
// explainable); the schema below is checked when the table is loaded.

const money = z.number().nonnegative();
const classPrices = z
  .object({
    storagePerGbMonth: money,
    putPer1000: money,
    getPer1000: money,
    /** Per GB read (Standard-IA, Glacier IR) or restored (Deep Archive, standard retrieval). */
    retrievalPerGb: money,
    /** Deep Archive: a restore request per object, before it can be read. */
    restoreRequestPer1000: money.optional(),
    /** Lifecycle transition request into this class, per object. */
    transitionInPer1000: money,
    /** An object deleted or moved out earlier is billed as if kept this long. */
    minimumDays: z.number().int().nonnegative(),
    /** Smaller objects are billed as this size. */
    minimumObjectBytes: z.number().int().nonnegative(),
    /** Archive classes: index and metadata per object, billed at the Standard rate… */
    overheadBytesAtStandard: z.number().int().nonnegative(),
    /** …and at the class's own rate. */
    overheadBytesInClass: z.number().int().nonnegative(),
  })
  .strict();

export const STORAGE_CLASSES = ['STANDARD', 'STANDARD_IA', 'GLACIER_IR', 'DEEP_ARCHIVE'] as const;
export type StorageClass = (typeof STORAGE_CLASSES)[number];

export const priceTableSchema = z
  .object({
    region: z.string().min(1),
    currency: z.literal('USD'),
    /** The month the prices were taken from the sources (YYYY-MM). */
    asOf: z.string().regex(/^\d{4}-\d{2}$/),
    note: z.string(),
    sources: z.array(z.string().url()).min(1),
    gibibyteBytes: z.literal(1073741824),
    s3: z.object({ STANDARD: classPrices, STANDARD_IA: classPrices, GLACIER_IR: classPrices, DEEP_ARCHIVE: classPrices }).strict(),
    /** `pointInTimeRecoveryPerGbMonth`: continuous backups, billed on the table's size (the base table's, not its indexes'). */
    dynamodb: z.object({ writeRequestUnitsPerMillion: money, storagePerGbMonth: money, pointInTimeRecoveryPerGbMonth: money.optional() }).strict(),
    lambda: z.object({ requestsPerMillion: money }).strict(),
  })
  .strict();
export type PriceTable = z.infer<typeof priceTableSchema>;

const TABLES: Record<string, unknown> = { 'aws-s3-eu-west-1-2026-11': eu2026 };

/** Names of the tables in the repo, newest last. */
export function priceTableNames(): string[] {
  return Object.keys(TABLES).sort();
}

/** A table by name (default: the newest); throws naming the tables there are. */
export function priceTable(name?: string): { name: string; table: PriceTable } {
  const chosen = name ?? priceTableNames().at(-1)!;
  const raw = TABLES[chosen];
  if (raw === undefined) throw new Error(`no price table "${chosen}"; there are: ${priceTableNames().join(', ')}`);
  return { name: chosen, table: priceTableSchema.parse(raw) };
}

/** A price table older than this is still used, with a warning to check the prices. */
export const PRICE_TABLE_STALE_DAYS = 180;

/**
 * The warning for a table whose prices were taken more than PRICE_TABLE_STALE_DAYS before `now`
 * (counted from the first day of its `asOf` month); undefined while it is recent enough.
 */
export function priceTableAgeWarning(table: Pick<PriceTable, 'asOf' | 'sources'>, now: Date): string | undefined {
  const days = Math.floor((now.getTime() - Date.parse(`${table.asOf}-01T00:00:00Z`)) / 86_400_000);
  if (days <= PRICE_TABLE_STALE_DAYS) return undefined;
  return `the price table is ${days} days old (prices as of ${table.asOf}, more than ${PRICE_TABLE_STALE_DAYS}): check them at ${table.sources.join(', ')} and add a newer dated table under core/prices/`;
}
