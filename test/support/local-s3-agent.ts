import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { LocalS3 } from '../../local/s3-process.ts';

// The real agent process (bin/ferry.mjs) shipping one recordings source to a local S3: its
// configuration, and the process with every line it logs.

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');

/** Writes an agent config shipping `root` (source cs) to `s3`; `extra` is YAML put before `sources:` (shipping, metrics, alerts…). */
export function localS3AgentConfig(file: string, s3: LocalS3, o: { site: string; state: string; root: string; closeAfterFiles: number; extra?: string }): string {
  const cloud = `cloud: { bucket: ferry-data, endpoint: "${s3.endpoint}", credentials: { accessKeyId: ${s3.credentials.accessKeyId}, secretAccessKey: ${s3.credentials.secretAccessKey} } }`;
  writeFileSync(file, `site: ${o.site}\nstate: ${o.state}\n${cloud}\n${o.extra ?? ''}sources:\n  - { name: cs, type: recordings, path: ${o.root}, closeAfterFiles: ${o.closeAfterFiles}, quietSeconds: 60, settleSeconds: 1 }\n`);
  return file;
}

/**
 * Starts `ferry ARGS`; `lines` collects stdout and stderr line by line (with when each came), `exited` its exit code.
 * `group`: in a process group of its own, as a terminal runs it (a signal to `-pid` reaches every process of it).
 */
export function spawnFerry(args: string[], env: NodeJS.ProcessEnv, options: { group?: boolean } = {}): { child: ChildProcess; exited: Promise<number | null>; lines: { at: number; text: string }[] } {
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: options.group === true });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const lines: { at: number; text: string }[] = [];
  for (const stream of [child.stdout!, child.stderr!]) createInterface({ input: stream }).on('line', (text) => lines.push({ at: Date.now(), text }));
  return { child, exited, lines };
}

/** Waits (up to `ms`) until a line containing `text` was logged; whether one was. */
export async function untilLogged(lines: readonly { text: string }[], text: string, ms = 30_000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) if (lines.some((l) => l.text.includes(text))) return true;
  return lines.some((l) => l.text.includes(text));
}
