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
 * Starts `ferry ARGS`; `lines` collects stdout and stderr line by line (with when each came), `exited` its exit code
 * (once its output is closed too: every line it wrote is in `lines` by then).
 * `group`: in a process group of its own, as a terminal runs it (a signal to `-pid` reaches every process of it).
 */
export function spawnFerry(args: string[], env: NodeJS.ProcessEnv, options: { group?: boolean } = {}): { child: ChildProcess; exited: Promise<number | null>; lines: { at: number; text: string }[] } {
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: options.group === true });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const lines: { at: number; text: string }[] = [];
  for (const stream of [child.stdout!, child.stderr!]) createInterface({ input: stream }).on('line', (text) => lines.push({ at: Date.now(), text }));
  return { child, exited, lines };
}

/**
 * Waits until `run` logged a line containing `text` (true) or ended without one (false). No
 * give-up of its own: the test's timeout bounds it (a first pack on a loaded machine took over
 * the 30 s a fixed wait gave it, while the agent shipped as it should).
 */
export async function untilLogged(run: { lines: readonly { text: string }[]; exited: Promise<unknown> }, text: string): Promise<boolean> {
  let ended = false;
  void run.exited.then(() => (ended = true));
  const logged = () => run.lines.some((l) => l.text.includes(text));
  while (!logged() && !ended) await new Promise((r) => setTimeout(r, 100));
  return logged();
}
