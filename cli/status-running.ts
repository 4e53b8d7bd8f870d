import { statSync } from 'node:fs';
import { readPassMarker } from '../agent/state/pass-marker.ts';
import { lockHolder } from '../agent/state/state-lock.ts';
import { systemClock } from '../core/clock.ts';
import { formatDuration } from '../core/alert-text.ts';
import { formatBytes } from '../core/format-bytes.ts';
import { readUploadProgress, recordedUploads } from '../agent/upload-progress.ts';
import { stoppedAt } from '../agent/upload-keep.ts';

// `ferry agent status`: the agent holding the state directory now (agent.lock), and whether the
// configuration file changed after it started. An agent reads its configuration once, at its
// start, so a limit lifted in the file (bandwidth, a source added) does not reach a service or a
// long pass already running; status reads the file, and would otherwise show the new limit as
// the one in force.

/** The agent holding the state directory now, if any: a pass under way or a service. */
export interface RunningAgent {
  pid: number;
  host: string;
  since: string;
  sameHost: boolean;
  /** When the configuration file was changed, when that was after this agent started. */
  configChangedAt?: string;
}

export function runningAgent(state: string, configFile: string): { running?: RunningAgent } {
  const holder = lockHolder(state, systemClock.now());
  if (!holder) return {};
  const running: RunningAgent = { pid: holder.pid, host: holder.host, since: holder.since, sameHost: holder.running === true };
  const changed = statSync(configFile, { throwIfNoEntry: false })?.mtime;
  if (changed && changed.getTime() > Date.parse(holder.since)) running.configChangedAt = changed.toISOString();
  return { running };
}

/** The `running` line of agent status. */
export function runningLine(running: RunningAgent | undefined): string {
  if (!running) return 'no agent now';
  const who = `an agent since ${running.since} (pid ${running.pid}${running.sameHost ? '' : ` on ${running.host}`}): the figures below are its last finished pass's`;
  if (!running.configChangedAt) return who;
  return `${who}; the configuration file changed at ${running.configChangedAt}, after it started: it runs with the configuration it read at its start (the bandwidth below is the file's) until it exits`;
}

/**
 * The `in flight` line: packs and backup/log files (`source/name`) a run began and did not finish.
 * With no agent running now, a run that stopped mid-pass (kill -9) left them; the next run ships them.
 */
export function inflightLine(running: RunningAgent | undefined, packs: number, artefacts: string[] = []): string {
  const files = artefacts.length > 0 ? `, ${artefacts.length} backup/log file(s) (${artefacts.slice(0, 3).join(', ')}${artefacts.length > 3 ? ', …' : ''})` : '';
  const left = !running && packs + artefacts.length > 0 ? ' (left by a run that stopped mid-pass: shipped again by the next one)' : '';
  return `${packs} pack(s)${files}${left}`;
}

/** A pass that started after the last one status.json records: still running (its process holds the lock) or not. */
export interface UnfinishedPass {
  startedAt: string;
  pid: number;
  running: boolean;
  /** It ended on an error (the agent logged it; a service tries again each pollSeconds). */
  failed?: { at: string; error: string };
}

/**
 * The pass that started after the last finished one (`lastFinished`, status.json's time; none:
 * no pass ever finished), from pass.json; undefined when the latest pass finished. Running when
 * the agent holding the state directory now is the process that started it.
 */
export function unfinishedPass(state: string, last: { updatedAt?: string; pass?: { startedAt: string; pid: number } } | undefined, running: RunningAgent | undefined): { unfinishedPass?: UnfinishedPass } {
  const marker = readPassMarker(state);
  if (!marker) return {};
  // status.json names the pass it reports: the marker is that one's, or a later pass's, whatever
  // the clock said (one set back makes a later pass start before the last one finished). An
  // agent before it wrote no name: then by the times.
  if (last?.pass ? last.pass.startedAt === marker.startedAt && last.pass.pid === marker.pid : last?.updatedAt !== undefined && Date.parse(marker.startedAt) <= Date.parse(last.updatedAt)) return {};
  // One that ended on an error is not running, though its process (a service) holds the lock.
  return { unfinishedPass: { ...marker, running: !marker.failed && running?.sameHost === true && running.pid === marker.pid } };
}

/** The `pass` line of agent status: a pass under way, or one that died (killed or crashed), beside the last finished one. */
export function passLine(pass: UnfinishedPass, lastFinished: string | undefined): string {
  const last = lastFinished ? `last finished pass ${lastFinished}` : 'no pass has finished yet';
  if (pass.failed) return `started ${pass.startedAt} (pid ${pass.pid}) failed at ${pass.failed.at}: ${pass.failed.error}; ${last}: the figures below are that pass's`;
  if (pass.running) return `running since ${pass.startedAt} (pid ${pass.pid}); ${last}: the figures below are that pass's`;
  return `started ${pass.startedAt} (pid ${pass.pid}) did not finish (killed or crashed: see the agent's log; the next run ships what it left); ${last}: the figures below are that pass's`;
}

/** An upload of a backup, log or archive file under way, as far as its progress file says (agent/upload-progress.ts). */
export interface UploadShown {
  file: string;
  size: number;
  sentBytes: number;
  startedAt: string;
  updatedAt: string;
  /** Bytes a second since it started; undefined before its first part was stored. */
  bytesPerSec?: number;
  /** The bytes an earlier, interrupted run had stored when this one went on with the upload. */
  resumedAt?: number;
  /** A run the line stopped left the upload open for the next (agent/upload-keep.ts): when, why, how many times so far; `startedAt` is when the upload began. */
  stopped?: { at: string; reason: string; stops: number };
}

/**
 * The uploads of the in-flight artefacts the agent running now recorded progress of (a killed
 * run's record waits for the next run to go on with its upload), and those a run the line
 * stopped left open for the next, whether an agent runs or not.
 */
export function inflightUploads(state: string, inflight: { artefactId: string; source: string; name: string }[], running: RunningAgent | undefined): UploadShown[] {
  const going = new Set(running ? inflight.map((a) => a.artefactId) : []);
  return [...(running ? runningUploads(state, inflight) : []), ...keptUploads(state, going)];
}

/** The uploads the line stopped, but those an agent is going on with now (`going`). */
function keptUploads(state: string, going: ReadonlySet<string>): UploadShown[] {
  return recordedUploads(state).flatMap((id) => {
    const p = readUploadProgress(state, id);
    if (going.has(id) || !p?.stoppedAt || !Array.isArray(p.resume?.parts)) return [];
    const stored = p.resume.parts.reduce((n, part) => n + part.size, 0);
    const stopped = { at: p.stoppedAt, reason: p.stopReason ?? 'the line failed', stops: p.resume.stops ?? 1 };
    return [{ file: `${p.source}/${p.name}`, size: p.size, sentBytes: stored, startedAt: p.resume.since ?? p.startedAt, updatedAt: p.updatedAt, stopped }];
  });
}

function runningUploads(state: string, inflight: { artefactId: string; source: string; name: string }[]): UploadShown[] {
  return inflight.flatMap((a) => {
    const p = readUploadProgress(state, a.artefactId);
    if (!p) return [];
    const seconds = (Date.parse(p.updatedAt) - Date.parse(p.startedAt)) / 1000;
    // Parts found stored from the earlier run were not sent: not counted in the rate.
    const sent = p.sentBytes - (p.heldBytes ?? 0);
    const resumed = p.resumedAt === undefined ? {} : { resumedAt: p.resumedAt };
    return [{ file: `${a.source}/${a.name}`, size: p.size, sentBytes: p.sentBytes, startedAt: p.startedAt, updatedAt: p.updatedAt, ...(sent > 0 && seconds > 0 ? { bytesPerSec: sent / seconds } : {}), ...resumed }];
  });
}

/**
 * `nightly/full.bak: 85.0 MiB of 300.0 MiB (28 %) since 02:00:04Z, 362.1 KiB/s: about 10 min left (as of 02:04:10Z)`;
 * an upload gone on with from an interrupted run says `since 02:00:04Z (resumed at 120.0 MB), …`.
 */
export function uploadLine(u: UploadShown): string {
  if (u.stopped) return `${u.file}: ${stoppedAt(u.sentBytes, u.size)} at ${u.stopped.at}: ${u.stopped.reason}; the next run resumes (upload under way since ${u.startedAt}, stopped ${u.stopped.stops} time(s))`;
  const percent = u.size > 0 ? Math.floor((100 * u.sentBytes) / u.size) : 100;
  const rate = u.bytesPerSec === undefined ? 'no part stored yet' : `${formatBytes(u.bytesPerSec)}/s: about ${formatDuration(((u.size - u.sentBytes) / u.bytesPerSec) * 1000)} left`;
  const resumed = u.resumedAt === undefined ? '' : ` (resumed at ${formatBytes(u.resumedAt)})`;
  return `${u.file}: ${formatBytes(u.sentBytes)} of ${formatBytes(u.size)} (${percent} %) since ${u.startedAt}${resumed}, ${rate} (as of ${u.updatedAt})`;
}
