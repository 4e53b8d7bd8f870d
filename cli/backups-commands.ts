import type { Command } from 'commander';
import type { ArtefactEntry } from '../core/ports.ts';
import { collectPages, type Page } from '../core/paging.ts';
import { apiFor, getJson, type CloudOptions } from './api-client.ts';
import { formatBytes } from './progress.ts';
import { printable } from './printable.ts';
import { groupBy, logChainsBySeries } from '../core/log-gaps.ts';

// `ferry backups list`: what the catalogue holds of a site's database backups, log segments
// and archives, through the catalogue API (so a DR site sees exactly what the API serves).

export interface ListOptions extends CloudOptions {
  site: string;
  source?: string;
  role?: string;
  json?: boolean;
}

export async function listBackups(opts: ListOptions): Promise<ArtefactEntry[]> {
  const api = apiFor(opts);
  const params = new URLSearchParams({ limit: '1000' });
  if (opts.source) params.set('source', opts.source);
  if (opts.role) params.set('role', opts.role);
  return collectPages((cursor) => {
    if (cursor) params.set('cursor', cursor);
    return getJson<Page<ArtefactEntry>>(api, `/sites/${encodeURIComponent(opts.site)}/artefacts?${params}`);
  });
}

const short = (iso: string) => iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');

/**
 * A partial snapshot whose closed segment has arrived is kept until purge, but no longer used;
 * the closed segment of that name in another run of the numbering (`logChains`) does not count.
 */
export function supersededPartials(items: ArtefactEntry[]): Set<string> {
  const superseded = new Set<string>();
  for (const segments of groupBy(items.filter((a) => a.role === 'segment'), (a) => a.source).values()) {
    for (const chains of logChainsBySeries(segments).values()) {
      for (const chain of chains) {
        const finals = new Set(chain.filter((a) => !a.partial).map((a) => a.sequence));
        for (const a of chain) if (a.partial && finals.has(a.sequence)) superseded.add(a.artefactId);
      }
    }
  }
  return superseded;
}

export function renderBackups(items: ArtefactEntry[]): string {
  if (items.length === 0) return 'no backups, log segments or archives found\n';
  const superseded = supersededPartials(items);
  const rows = items.map((a) => [
    a.source,
    a.role,
    a.name,
    // An archive whose name could not be read as its span is marked: its span is only the file's times.
    a.span ? `${short(a.span.from)} → ${short(a.span.to)}${a.role === 'archive' && a.spanSource === 'file-times' ? ' (file times: name not read)' : ''}` : short(a.takenAt),
    formatBytes(a.size),
    a.partial ? (superseded.has(a.artefactId) ? 'superseded' : 'partial') : '',
    a.sequence === undefined ? '' : String(a.sequence),
    // The host whose agent shipped it (after a failover, the secondary's); not recorded before 2026-12-07.
    printable(a.shippedBy?.host ?? 'not recorded'),
    a.key,
  ]);
  const header = ['source', 'role', 'name', 'taken (UTC) / span', 'size', 'partial', 'seq', 'shipped by', 'key'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  const bytes = items.reduce((sum, a) => sum + a.size, 0);
  return `${[fmt(header), ...rows.map(fmt)].join('\n')}\n${items.length} artefact(s), ${formatBytes(bytes)}\n`;
}

export function registerBackupsCommands(program: Command): void {
  const backups = program.command('backups').description('database backups, log segments and archives offsite');
  backups
    .command('list')
    .description("list a site's artefacts from the catalogue")
    .requiredOption('--site <site>', 'site name')
    .option('--source <name>', 'only this source')
    .option('--role <role>', 'only full, segment or archive')
    .option('--json', 'JSON output')
    .option('--api <url>', 'catalogue API base URL')
    .option('-c, --config <file>', 'agent config whose cloud to use')
    .action(async (opts: ListOptions) => {
      const items = await listBackups(opts);
      process.stdout.write(opts.json ? `${JSON.stringify(items, null, 2)}\n` : renderBackups(items));
    });
}
