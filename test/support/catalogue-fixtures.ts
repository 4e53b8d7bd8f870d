import { createHash } from 'node:crypto';
import { recordingId } from '../../core/ids.ts';
import type { CatalogueEntry } from '../../core/ports.ts';

export const BASE_TIME = Date.parse('2026-03-01T08:00:00.000Z');

export function sha(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A catalogue entry numbered i: one minute apart from BASE_TIME unless start is given. */
export function makeEntry(site: string, i: number, over: Partial<CatalogueEntry> = {}): CatalogueEntry {
  const path = `batch-${Math.floor(i / 100)}/call-${i}.wav`;
  const digest = sha(`${site}/${path}`);
  return {
    site,
    rid: recordingId(site, path, digest),
    source: 'contactstore',
    packId: `p${sha(`pack-${Math.floor(i / 100)}`).slice(0, 23)}`,
    packKey: `recordings/${site}/2026/03/01/p${sha(`pack-${Math.floor(i / 100)}`).slice(0, 23)}.tar`,
    manifestKey: `manifests/${site}/recordings/2026/03/01/p${sha(`pack-${Math.floor(i / 100)}`).slice(0, 23)}.json`,
    offset: 512 + i * 2048,
    length: 1536,
    sha256: digest,
    contentType: 'audio/wav',
    path,
    start: new Date(BASE_TIME + i * 60_000).toISOString(),
    meta: { callId: `call-${i}`, agent: `agent-${i % 5}`, caller: `+4420794600${String(i % 10).padStart(2, '0')}`, called: `2${String(i % 7).padStart(3, '0')}` },
    ...over,
  };
}
