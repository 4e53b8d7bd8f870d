import type { AgentConfig } from '../core/config.ts';
import type { Journal } from './journal.ts';
import type { Logger } from './log.ts';
import { Observations } from './state/observations.ts';
import { sameDirectory } from './source-moved.ts';

// A recordings source renamed in the configuration: the shipped index, the pending view and the
// numbering are kept by source name, so the new name was a new source. Everything still on the
// recorder shipped again as new packs (stored twice, paid twice), and what the old name had
// pending was no longer watched for loss. A new name that has never been walked, reading the
// directory that one source no longer configured read at its last pass, is that source renamed:
// its records are filed under the new name before the pass.

/** The recordings sources of `config` that are a source no longer configured, renamed (same directory, never walked under the new name). */
export async function renamedSources(config: AgentConfig, observations: Observations): Promise<{ from: string; to: string }[]> {
  const unconfigured = Observations.unconfigured(config.state, new Set(config.sources.map((s) => s.name)));
  const out: { from: string; to: string }[] = [];
  if (unconfigured.length === 0) return out;
  for (const source of config.sources) {
    // Walked under this name: not a rename. A pending view under it with no observations beside
    // it is one cut short (the view moved, the observations not yet): found again, and finished.
    if (source.type !== 'recordings' || observations.lastScan(source.name) !== undefined) continue;
    if (observations.hasPending(source.name) && observations.recorded(source.name)) continue;
    const same: string[] = [];
    for (const name of unconfigured) {
      const root = observations.recordedRoot(name);
      if (root !== undefined && !out.some((r) => r.from === name) && (await sameDirectory(root, source.path))) same.push(name);
    }
    // Two old sources on this root (their extensions parted its files): which one this is cannot be told.
    if (same.length === 1) out.push({ from: same[0] as string, to: source.name });
  }
  return out;
}

/** Files the records of each renamed recordings source under its new name; returns the renames made. */
export async function adoptRenamedSources(config: AgentConfig, journal: Journal, observations: Observations, log: Logger): Promise<{ from: string; to: string; batches: number }[]> {
  const done: { from: string; to: string; batches: number }[] = [];
  for (const { from, to } of await renamedSources(config, observations)) {
    const batches = await journal.renameSource(from, to);
    observations.renameSource(from, to);
    log.warn('source renamed: what the old name shipped and had pending is carried over to the new name', { from, to, batches });
    done.push({ from, to, batches });
  }
  return done;
}
