import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalLambdaPool, type FunctionRuntime } from '../../local/lambda-pool.ts';
import { LocalLambda } from '../../local/local-lambda.ts';

// A pool of runtimes of one function (local/lambda-pool.ts): concurrent invocations spread over
// the runtimes, a streamed response keeps its runtime counted until its body is done, a dead
// runtime is replaced while the others go on.

/** A runtime that holds each invocation until released, counting what it has in flight. */
class HeldRuntime implements FunctionRuntime {
  readonly functionName = 'held';
  readonly bundle = 'held.mjs';
  running = true;
  inFlight = 0;
  served = 0;
  private readonly held: (() => void)[] = [];

  constructor(private readonly answer: () => unknown = () => ({ statusCode: 200 })) {}

  async invoke(): Promise<unknown> {
    this.inFlight++;
    this.served++;
    await new Promise<void>((resolve) => this.held.push(resolve));
    this.inFlight--;
    return this.answer();
  }

  release(): void {
    for (const resolve of this.held.splice(0)) resolve();
  }

  async stop(): Promise<void> {
    this.running = false;
  }
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('a pool of runtimes of one function', () => {
  it('spreads 4 invocations made at once over its 2 runtimes, 2 in each, not 4 in one', async () => {
    const runtimes: HeldRuntime[] = [];
    const pool = await LocalLambdaPool.start(2, async () => runtimes[runtimes.push(new HeldRuntime()) - 1]!);
    const calls = [1, 2, 3, 4].map(() => pool.invoke({}));
    await tick();
    expect(runtimes.map((r) => r.inFlight)).toEqual([2, 2]);
    for (const r of runtimes) r.release();
    await Promise.all(calls);
    expect(runtimes.map((r) => r.inFlight)).toEqual([0, 0]);
  });

  it('counts a streamed response against its runtime until its body is done: the next invocation goes to the other one', async () => {
    const runtimes: HeldRuntime[] = [];
    const bodies: Readable[] = [];
    const streaming = () => {
      const body = new Readable({ read() {} });
      bodies.push(body);
      return { statusCode: 200, headers: {}, body };
    };
    const pool = await LocalLambdaPool.start(2, async () => runtimes[runtimes.push(new HeldRuntime(streaming)) - 1]!);
    const first = pool.invoke({});
    await tick();
    runtimes[0]!.release();
    await first;
    // Answered, but its body still streams: runtime 0 is still busy with it.
    const second = pool.invoke({});
    await tick();
    expect(runtimes.map((r) => r.served)).toEqual([1, 1]);
    bodies[0]!.destroy();
    await tick();
    runtimes[1]!.release();
    await second;
    const third = pool.invoke({});
    await tick();
    // Runtime 0's body is gone, runtime 1's still streams: the third goes to runtime 0.
    expect(runtimes.map((r) => r.served)).toEqual([2, 1]);
    runtimes[0]!.release();
    await third;
  });

  it('replaces a runtime that died, answering with the others meanwhile', async () => {
    const runtimes: HeldRuntime[] = [];
    const pool = await LocalLambdaPool.start(2, async () => runtimes[runtimes.push(new HeldRuntime()) - 1]!);
    runtimes[0]!.running = false;
    const call = pool.invoke({});
    await tick();
    expect(runtimes[1]!.inFlight).toBe(1);
    // A third runtime was started in place of the dead one, and takes the next invocation.
    expect(runtimes).toHaveLength(3);
    const next = pool.invoke({});
    await tick();
    expect(runtimes[2]!.inFlight).toBe(1);
    for (const r of runtimes) r.release();
    await Promise.all([call, next]);
    expect(pool.size).toBe(2);
    expect(pool.running).toBe(true);
  });

  it('fails to start when one runtime cannot start, and stops those that did', async () => {
    const runtimes: HeldRuntime[] = [];
    let n = 0;
    const start = async () => {
      if (n++ === 1) throw new Error('bundle did not load');
      return runtimes[runtimes.push(new HeldRuntime()) - 1]!;
    };
    await expect(LocalLambdaPool.start(2, start)).rejects.toThrow(/bundle did not load/);
    expect(runtimes.map((r) => r.running)).toEqual([false]);
  });
});

describe('a pool of real runtimes (worker threads)', () => {
  let dir: string;
  let bundle: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'replay-pool-'));
    bundle = join(dir, 'index.mjs');
    // Answers, after a pause, with the thread it ran on.
    writeFileSync(bundle, `import { threadId } from 'node:worker_threads';\nexport const handler = async () => { await new Promise((r) => setTimeout(r, 200)); return { threadId }; };\n`);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('serves 2 concurrent invocations on 2 threads with a pool of 2, on 1 thread with a single runtime', async () => {
    const start = () => LocalLambda.start({ functionName: 'pool-test', bundle, environment: {} });
    const single = await start();
    const pool = await LocalLambdaPool.start(2, start);
    try {
      const threads = async (fn: FunctionRuntime) => new Set(((await Promise.all([fn.invoke({}), fn.invoke({})])) as { threadId: number }[]).map((r) => r.threadId)).size;
      expect(await threads(single)).toBe(1);
      expect(await threads(pool)).toBe(2);
    } finally {
      await Promise.all([single.stop(), pool.stop()]);
    }
  });
});

describe("a runtime's answer over Lambda's 6 MB", () => {
  it('is refused as Lambda refuses it (Function.ResponseSizeTooLarge), and one under it passes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lambda-size-'));
    const bundle = join(dir, 'index.mjs');
    writeFileSync(bundle, `export const handler = async (event) => ({ body: 'x'.repeat(event.bytes) });\n`);
    const fn = await LocalLambda.start({ functionName: 'size-test', bundle, environment: {} });
    try {
      expect(((await fn.invoke({ bytes: 6_000_000 })) as { body: string }).body).toHaveLength(6_000_000);
      await expect(fn.invoke({ bytes: 6_300_000 })).rejects.toMatchObject({ name: 'Function.ResponseSizeTooLarge', message: expect.stringMatching(/exceeded maximum allowed payload size \(6291556 bytes\)/) });
    } finally {
      await fn.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
