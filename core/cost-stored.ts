import type { BlobInfo } from './ports.ts';
import { STORAGE_CLASSES, type PriceTable, type StorageClass } from './cost-prices.ts';
import { NAME_PATTERN, parseKey } from './layout.ts';
import { STORED_CLASSES } from './site-prefixes.ts';

// `ferry cost now`: what a site's objects in the bucket cost to keep this month, from a listing
// (each object's size and storage class, as ListObjectsV2 gives them) and the same dated price
// table as the estimate, billed as S3 bills storage: at least the class's minimum object size,
// plus the archive classes' per-object overhead (part at the Standard rate). To set beside
// `ferry cost estimate`'s storage per month for the same site once it has run that long.

export interface StoredLine {
  /** The key's data class (recordings, manifests, backups, logs, …). */
  dataClass: string;
  storageClass: string;
  objects: number;
  /** Bytes as stored (the objects' sizes). */
  bytes: number;
  /** GB billed in the class (minimum size and overhead included), 2^30 bytes. */
  billedGb: number;
  /** Storage this month at the table's price; undefined for a class the table has no price for. */
  storagePerMonth?: number;
}

export interface StoredCost {
  site: string;
  lines: StoredLine[];
  total: { objects: number; bytes: number; storagePerMonth: number };
  /** Classes found that the table cannot price: left out of the total, each said why. */
  unpriced: string[];
}

/** Sums a site's listed objects by data class and storage class and prices their storage for a month. */
export async function priceStored(site: string, objects: AsyncIterable<BlobInfo> | Iterable<BlobInfo>, prices: PriceTable): Promise<StoredCost> {
  const tally = new StoredTally(prices);
  for await (const o of objects) tally.add(o);
  return tally.result(site);
}

export interface StoredBySite {
  /** Each site found under the prefixes of STORED_CLASSES, by name. */
  sites: StoredCost[];
  /** Every site together, by data class and storage class. */
  all: StoredCost;
  /** Objects under no site's prefix (another application's, or keys Ferry never writes). */
  outside: { objects: number; bytes: number; examples: string[] };
}

/** The whole bucket's listing priced per site (one pass: the objects are counted, not held). */
export async function priceStoredBySite(objects: AsyncIterable<BlobInfo> | Iterable<BlobInfo>, prices: PriceTable): Promise<StoredBySite> {
  const sites = new Map<string, StoredTally>();
  const all = new StoredTally(prices);
  const outside = { objects: 0, bytes: 0, examples: [] as string[] };
  for await (const o of objects) {
    const [cls, site, rest] = o.key.split('/', 3);
    if (cls === undefined || site === undefined || rest === undefined || !STORED_CLASSES.includes(cls) || !NAME_PATTERN.test(site)) {
      outside.objects++;
      outside.bytes += o.size;
      if (outside.examples.length < 3) outside.examples.push(o.key);
      continue;
    }
    let tally = sites.get(site);
    if (!tally) sites.set(site, (tally = new StoredTally(prices)));
    tally.add(o);
    all.add(o);
  }
  return {
    sites: [...sites.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([site, t]) => t.result(site)),
    all: all.result('*'),
    outside,
  };
}

/** Objects summed by data class and storage class as they are listed. */
class StoredTally {
  private readonly lines = new Map<string, StoredLine & { overheadGb: number }>();

  constructor(private readonly prices: PriceTable) {}

  add(o: BlobInfo): void {
    const gib = this.prices.gibibyteBytes;
    const dataClass = parseKey(o.key)?.dataClass ?? o.key.split('/')[0] ?? '';
    const storageClass = o.storageClass ?? 'STANDARD';
    const id = `${dataClass}\t${storageClass}`;
    const line = this.lines.get(id) ?? { dataClass, storageClass, objects: 0, bytes: 0, billedGb: 0, overheadGb: 0 };
    const p = isPriced(storageClass) ? this.prices.s3[storageClass] : undefined;
    line.objects++;
    line.bytes += o.size;
    line.billedGb += (Math.max(o.size, p?.minimumObjectBytes ?? 0) + (p?.overheadBytesInClass ?? 0)) / gib;
    line.overheadGb += (p?.overheadBytesAtStandard ?? 0) / gib;
    this.lines.set(id, line);
  }

  result(site: string): StoredCost {
    const prices = this.prices;
    const std = prices.s3.STANDARD;
    const out: StoredLine[] = [...this.lines.values()]
      .sort((a, b) => (a.dataClass < b.dataClass ? -1 : a.dataClass > b.dataClass ? 1 : storageOrder(a.storageClass) - storageOrder(b.storageClass)))
      .map(({ overheadGb, ...line }) => (isPriced(line.storageClass) ? { ...line, storagePerMonth: line.billedGb * prices.s3[line.storageClass].storagePerGbMonth + overheadGb * std.storagePerGbMonth } : line));
    const unpriced = out.filter((l) => l.storagePerMonth === undefined).map((l) => `${l.dataClass} in ${l.storageClass} (${l.objects} object(s)): the price table has no price for ${l.storageClass}; left out of the total`);
    return {
      site,
      lines: out,
      total: {
        objects: out.reduce((n, l) => n + l.objects, 0),
        bytes: out.reduce((n, l) => n + l.bytes, 0),
        storagePerMonth: out.reduce((n, l) => n + (l.storagePerMonth ?? 0), 0),
      },
      unpriced,
    };
  }
}

function isPriced(storageClass: string): storageClass is StorageClass {
  return (STORAGE_CLASSES as readonly string[]).includes(storageClass);
}

function storageOrder(storageClass: string): number {
  const i = (STORAGE_CLASSES as readonly string[]).indexOf(storageClass);
  return i === -1 ? STORAGE_CLASSES.length : i;
}
