import { readdirSync, readFileSync } from 'node:fs';

// Where each side's CPU went, per request: the bench's own process (the client: for the raw side
// the AWS SDK call, for Ferry's a plain signed HTTP request), the local cloud's process split into
// its main thread (front doors, IAM gateways, the hop to the functions) and its other threads
// (the function runtimes' workers, plus V8's and libuv's helper threads), and the two stand-ins.
// Read from /proc/<pid>/task/<tid>/schedstat (nanoseconds on a CPU, per thread) rather than
// /proc/<pid>/stat (10 ms ticks, too coarse for a 10 ms page), around each side's requests.
// CPU time depends far less on the machine's load than latency does, so a change in the CPU a
// request costs shows here before it shows in a ratio of latencies.

/** Milliseconds of CPU by place. */
export interface CpuSplit {
  client: number;
  cloudMain: number;
  cloudThreads: number;
  s3: number;
  dynamo: number;
}

const PLACES: readonly (keyof CpuSplit)[] = ['client', 'cloudMain', 'cloudThreads', 's3', 'dynamo'];

function schedNs(pid: number, tid: number | string): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return 0; // the thread ended
  }
}

/** CPU nanoseconds of a process's live threads: its main thread and all the others. */
export function threadCpuNs(pid: number | undefined): { main: number; others: number } {
  if (pid === undefined) return { main: 0, others: 0 };
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return { main: 0, others: 0 };
  }
  const main = schedNs(pid, pid);
  const others = tids.filter((t) => t !== String(pid)).reduce((sum, t) => sum + schedNs(pid, t), 0);
  return { main, others };
}

/** The processes a split is read from (the cloud's undefined when it runs in the bench's process). */
export interface CpuPids {
  cloud?: number;
  s3?: number;
  dynamo?: number;
}

/** CPU milliseconds so far, by place. */
export function cpuNow(pids: CpuPids): CpuSplit {
  const cloud = threadCpuNs(pids.cloud);
  const s3 = threadCpuNs(pids.s3);
  const dynamo = threadCpuNs(pids.dynamo);
  const usage = process.cpuUsage();
  return {
    client: (usage.user + usage.system) / 1000,
    cloudMain: cloud.main / 1e6,
    cloudThreads: cloud.others / 1e6,
    s3: (s3.main + s3.others) / 1e6,
    dynamo: (dynamo.main + dynamo.others) / 1e6,
  };
}

/** CPU per request of each side, accumulated over the windows in which that side's requests ran. */
export class CpuMeter<Side extends string> {
  private readonly totals = new Map<Side, CpuSplit>();
  private readonly requests = new Map<Side, number>();
  constructor(private readonly pids: CpuPids) {}

  /** Runs `work` (which makes `requests` requests of `side`) and charges the CPU used meanwhile to that side; 0 requests (a warm-up) charges nothing. */
  async charge<T>(side: Side, requests: number, work: () => Promise<T>): Promise<T> {
    if (requests === 0) return work();
    const before = cpuNow(this.pids);
    try {
      return await work();
    } finally {
      const after = cpuNow(this.pids);
      const total = this.totals.get(side) ?? { client: 0, cloudMain: 0, cloudThreads: 0, s3: 0, dynamo: 0 };
      for (const place of PLACES) total[place] += after[place] - before[place];
      this.totals.set(side, total);
      this.requests.set(side, (this.requests.get(side) ?? 0) + requests);
    }
  }

  /** Milliseconds of CPU per request of `side`, by place and in all, rounded to 0.01 ms. */
  perRequest(side: Side): CpuSplit & { total: number } {
    const total = this.totals.get(side) ?? { client: 0, cloudMain: 0, cloudThreads: 0, s3: 0, dynamo: 0 };
    const n = Math.max(1, this.requests.get(side) ?? 0);
    const per = Object.fromEntries(PLACES.map((p) => [p, Math.round((total[p] / n) * 100) / 100])) as unknown as CpuSplit;
    return { ...per, total: Math.round((PLACES.reduce((s, p) => s + total[p], 0) / n) * 100) / 100 };
  }
}

/** One line for the bench's log. */
export function describeCpu(split: CpuSplit & { total: number }): string {
  return `CPU ms a request: ${split.total} (client ${split.client}, cloud main thread ${split.cloudMain}, cloud other threads ${split.cloudThreads}, s3rver ${split.s3}, dynalite ${split.dynamo})`;
}
