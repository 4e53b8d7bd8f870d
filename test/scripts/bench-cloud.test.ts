import { describe, expect, it } from 'vitest';
import { entriesOf } from '../../core/ingest.ts';
import { parseManifest, serializeManifest } from '../../core/manifest.ts';
import { isPackManifestKey, parseKey } from '../../core/layout.ts';
import { inParallel, latencySummary, percentile, syntheticPack } from '../../scripts/bench/cloud.ts';

// The cloud rows' helpers: the data they feed the local cloud must be what ingest accepts, and
// the percentiles must be the nearest-rank ones the report claims.

describe('bench cloud helpers', () => {
  it('builds a synthetic pack whose manifest ingest accepts, members laid out inside the pack', () => {
    const p = syntheticPack(3, 100, 256);
    const parsed = parseManifest(serializeManifest(p.manifest));
    expect(isPackManifestKey(p.manifestKey)).toBe(true);
    expect(parseKey(p.manifestKey)?.site).toBe(parsed.site);
    expect(p.manifestKey.endsWith(`/${parsed.packId}.json`)).toBe(true);
    expect(parsed.members).toHaveLength(100);
    for (const m of parsed.members) expect(m.offset + m.length).toBeLessThanOrEqual(p.size);
    expect(new Set(entriesOf(parsed, p.manifestKey).map((e) => e.rid)).size).toBe(100);
    // Packs n and n+1 share no recording: the raw ingest side writes new keys.
    const next = new Set(syntheticPack(4, 100, 256).manifest.members.map((m) => m.rid));
    expect(parsed.members.some((m) => next.has(m.rid))).toBe(false);
  });

  it('takes nearest-rank percentiles: p50 of 1..100 is 50, p99 is 99', () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(samples, 50)).toBe(50);
    expect(percentile(samples, 99)).toBe(99);
    expect(latencySummary([4, 1, 3, 2])).toEqual({ n: 4, p50Ms: 2, p99Ms: 4, meanMs: 2.5 });
  });

  it('runs every index once with at most the given concurrency', async () => {
    let inFlight = 0;
    let peak = 0;
    const seen: number[] = [];
    await inParallel(10, 3, async (i) => {
      peak = Math.max(peak, ++inFlight);
      await new Promise((r) => setTimeout(r, 2));
      seen.push(i);
      inFlight--;
    });
    expect(peak).toBe(3);
    expect(seen.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});
