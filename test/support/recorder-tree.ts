import { mkdirSync, readdirSync, readFileSync, writeFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';

// A tiny recorder tree for agent tests: batch directories of recordings with JSON sidecars,
// file times set in the past so batches count as settled and quiet.

export interface TreeRecording {
  batch: string;
  name: string;
  path: string;
  bytes: Buffer;
  sha256: string;
  callId: string;
  agent: string;
  caller: string;
  called: string;
  start: string;
}

export function writeTree(root: string, batches: number, perBatch: number, options: { size?: number; ageMs?: number; firstBatch?: number; now?: number } = {}): TreeRecording[] {
  const out: TreeRecording[] = [];
  const now = options.now ?? Date.now();
  const mtime = new Date(now - (options.ageMs ?? 3600_000));
  for (let b = 0; b < batches; b++) {
    const batch = String((options.firstBatch ?? 1) + b).padStart(6, '0');
    mkdirSync(join(root, batch), { recursive: true });
    for (let i = 0; i < perBatch; i++) {
      const callId = `c${batch}-${i}`;
      const bytes = Buffer.alloc(options.size ?? 2000 + i * 7, (b * 31 + i) % 251);
      bytes.write(`RIFF${callId}`, 0);
      const start = new Date(Date.UTC(2024, 0, 1 + b, 9, i)).toISOString();
      const sidecar = { callId, start, durationSec: 30, agent: `agent-${i % 3}`, caller: `+4420700${i % 5}`, called: `+4420800${b}`, direction: 'inbound', codec: 'L16/8000' };
      const name = `${callId}.wav`;
      writeFileSync(join(root, batch, name), bytes);
      writeFileSync(join(root, batch, `${callId}.json`), JSON.stringify({ Recording: { CallId: callId, StartTime: start, Duration: 30, Agent: sidecar.agent, Caller: sidecar.caller, Called: sidecar.called, Direction: 'inbound', Codec: 'L16/8000' } }));
      utimesSync(join(root, batch, name), mtime, new Date(mtime.getTime() + b * 1000));
      utimesSync(join(root, batch, `${callId}.json`), mtime, new Date(mtime.getTime() + b * 1000));
      out.push({ batch, name, path: `${batch}/${name}`, bytes, sha256: createHash('sha256').update(bytes).digest('hex'), callId, agent: sidecar.agent, caller: sidecar.caller, called: sidecar.called, start });
    }
    utimesSync(join(root, batch), mtime, new Date(mtime.getTime() + b * 1000));
  }
  return out;
}

/**
 * Every recording of the tree encrypted in place, as ransomware does: same names, other bytes
 * (`appended` more of them: a key block), every file (sidecars too) given the time `at`.
 */
export function encryptRecordings(root: string, at: Date, appended = 0): void {
  for (const batch of readdirSync(root)) {
    for (const name of readdirSync(join(root, batch))) {
      const path = join(root, batch, name);
      if (name.endsWith('.wav')) writeFileSync(path, Buffer.concat([readFileSync(path).map((b) => b ^ 0x5a), Buffer.alloc(appended, 7)]));
      utimesSync(path, at, at);
    }
  }
}
