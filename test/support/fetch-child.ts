import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fetchPlan, type FetchTuning } from '../../cli/restore-fetch.ts';
import type { BlobStore } from '../../core/ports.ts';
import type { RestorePlan } from '../../core/restore-plan.ts';

// `ferry restore fetch` in a process of its own, for a test to kill with SIGKILL mid-fetch:
// `node --import tsx test/support/fetch-child.ts SPEC.json`. The spec names the plan, the target
// directory, the file holding each object's bytes, and a delay before every GET's answer (so the
// fetch is slow enough to be killed half-way).

interface ChildSpec {
  plan: RestorePlan;
  dir: string;
  objects: Record<string, string>;
  delayMs: number;
  tuning: Partial<FetchTuning>;
}

const spec = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as ChildSpec;
const bodies = new Map(Object.entries(spec.objects).map(([key, path]) => [key, readFileSync(path)]));
const blobs: Pick<BlobStore, 'get'> = {
  async get(key, range) {
    await sleep(spec.delayMs);
    const whole = bodies.get(key)!;
    const bytes = range ? whole.subarray(range.start, range.end + 1) : whole;
    return { body: Readable.from([bytes]), size: whole.length, length: bytes.length };
  },
};
await fetchPlan({ plan: spec.plan, dir: spec.dir, blobs, freeBytes: 1024 ** 3, tuning: spec.tuning });
process.stdout.write('done\n');
