import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { CpuMeter, threadCpuNs } from '../../scripts/bench/cpu-split.ts';

/** This thread's own CPU milliseconds (on a loaded machine a thread gets only part of the wall time). */
const ownCpuMs = () => Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;

/** Keeps this thread busy until it has used `ms` of CPU. */
function spin(ms: number): void {
  const end = ownCpuMs() + ms;
  while (ownCpuMs() < end);
}

/** A worker that uses 300 ms of CPU, then says so and waits to be ended (alive, so its thread is still listed). */
const SPIN_WORKER = `
const { readFileSync } = require('node:fs');
const { parentPort } = require('node:worker_threads');
const own = () => Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6;
const end = own() + 300;
while (own() < end);
parentPort.postMessage('done');
setInterval(() => {}, 1000);
`;

describe('CPU split of the cloud rows', () => {
  it("charges a worker thread's CPU to the process's other threads, and the main thread only its own CPU", async () => {
    // The main thread's own counter, read beside each split: what it used in the window (starting
    // the worker, a test process's other timers) is its own, however much a loaded machine makes it.
    const ownBefore = ownCpuMs();
    const before = threadCpuNs(process.pid);
    const worker = new Worker(SPIN_WORKER, { eval: true });
    await new Promise((resolve) => worker.once('message', resolve));
    // Read while the worker still lives: an ended thread leaves /proc/<pid>/task.
    const during = threadCpuNs(process.pid);
    const ownDuring = ownCpuMs();
    await worker.terminate();
    expect((during.others - before.others) / 1e6).toBeGreaterThan(290);
    // The worker's 300 ms charged to the main thread would put it 300 ms past its own counter.
    expect(Math.abs((during.main - before.main) / 1e6 - (ownDuring - ownBefore))).toBeLessThan(30);
  });

  it('charges each side only the CPU of its own windows, per request, and nothing for a warm-up (0 requests)', async () => {
    const meter = new CpuMeter<'busy' | 'idle'>({});
    // The idle window first: the garbage of a spin (a file read a loop) keeps V8's helper
    // threads busy after it, and this process's CPU counts every thread's.
    // Margins wide enough for a loaded machine's background CPU (up to a third of a core seen in
    // a 120 ms window): the warm-up charged would make busy 600 ms a request, not 200.
    await meter.charge('idle', 1, () => new Promise((resolve) => setTimeout(resolve, 120)));
    await meter.charge('busy', 2, async () => spin(400));
    await meter.charge('busy', 0, async () => spin(800));
    const busy = meter.perRequest('busy');
    expect(busy.client).toBeGreaterThanOrEqual(200);
    expect(busy.client).toBeLessThan(350);
    expect(busy.total).toBe(busy.client);
    expect(meter.perRequest('idle').client).toBeLessThan(100);
  });
});
