import { Readable } from 'node:stream';
import type { InvocationOptions, LocalLambda } from './local-lambda.ts';

// Several execution environments of one function. Lambda gives each concurrent request an
// environment of its own, so concurrent invocations never wait for each other's CPU; a single
// local runtime (one worker thread) runs them all on one thread, and a burst of invocations
// (50 players starting at once on the replay URL) queues behind that thread. A pool spreads
// invocations over a few runtimes: each invocation goes to the runtime with the fewest
// invocations in flight (a streamed one counts until its body is read or dropped), and a
// runtime that died is replaced by a fresh one while the others go on serving.

/** What the local cloud invokes a function through: one runtime, or a pool of them. */
export type FunctionRuntime = Pick<LocalLambda, 'functionName' | 'bundle' | 'running' | 'invoke' | 'stop'>;

export class LocalLambdaPool implements FunctionRuntime {
  private readonly inFlight = new Map<FunctionRuntime, number>();
  private readonly replacing = new Map<number, Promise<FunctionRuntime>>();
  private stopped = false;

  private constructor(
    private readonly members: FunctionRuntime[],
    private readonly startOne: () => Promise<FunctionRuntime>,
  ) {
    for (const member of members) this.inFlight.set(member, 0);
  }

  /** Starts `size` runtimes of the function (at least one); fails, stopping those started, if any fails to start. */
  static async start(size: number, startOne: () => Promise<FunctionRuntime>): Promise<LocalLambdaPool> {
    const started = await Promise.allSettled(Array.from({ length: Math.max(1, Math.floor(size)) }, () => startOne()));
    const members = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      await Promise.all(members.map((m) => m.stop()));
      throw failed.reason;
    }
    return new LocalLambdaPool(members, startOne);
  }

  get functionName(): string {
    return this.members[0]!.functionName;
  }

  get bundle(): string {
    return this.members[0]!.bundle;
  }

  /** How many runtimes serve the function. */
  get size(): number {
    return this.members.length;
  }

  /** True until stop(): a runtime that died is replaced, the pool goes on answering. */
  get running(): boolean {
    return !this.stopped;
  }

  async invoke(event: unknown, options: InvocationOptions = {}): Promise<unknown> {
    if (this.stopped) throw new Error(`function ${this.functionName} stopped`);
    // Counted at once (no await before it): invocations made in one turn see each other.
    const member = this.pick() ?? (await this.replaced());
    this.inFlight.set(member, (this.inFlight.get(member) ?? 0) + 1);
    let done = false;
    const release = () => {
      if (done) return;
      done = true;
      this.inFlight.set(member, (this.inFlight.get(member) ?? 1) - 1);
    };
    try {
      const result = await member.invoke(event, options);
      const body = (result as { body?: unknown } | null)?.body;
      // A streamed response keeps its runtime busy until its body is read or dropped.
      if (body instanceof Readable && !body.destroyed && !body.readableEnded) body.once('close', release);
      else release();
      return result;
    } catch (error) {
      release();
      throw error;
    }
  }

  /** The running runtime with the fewest invocations in flight (none running: undefined); a dead one is replaced meanwhile. */
  private pick(): FunctionRuntime | undefined {
    let best: FunctionRuntime | undefined;
    for (const [i, member] of this.members.entries()) {
      if (!member.running) {
        this.replace(i);
        continue;
      }
      if (best === undefined || this.inFlight.get(member)! < this.inFlight.get(best)!) best = member;
    }
    return best;
  }

  /** The first replacement to start, when no runtime is running. */
  private replaced(): Promise<FunctionRuntime> {
    if (this.replacing.size === 0) return Promise.reject(new Error(`function ${this.functionName}: no runtime running`));
    return Promise.race(this.replacing.values());
  }

  private replace(i: number): void {
    if (this.replacing.has(i) || this.stopped) return;
    const dead = this.members[i]!;
    const fresh = this.startOne().then((member) => {
      this.inFlight.delete(dead);
      this.inFlight.set(member, 0);
      this.members[i] = member;
      if (this.stopped) void member.stop();
      return member;
    });
    this.replacing.set(i, fresh);
    void fresh.finally(() => this.replacing.delete(i)).catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.members.map((m) => m.stop()), ...[...this.replacing.values()].map((p) => p.then((m) => m.stop(), () => undefined))]);
  }
}
