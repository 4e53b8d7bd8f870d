import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';

// Runs one tool as a child process and measures it from the outside, the same way for every
// tool: wall time from spawn to exit, peak resident memory of its whole process tree (a tool
// may fork helpers: tsx starts an esbuild service), and the CPU time the tree used. Linux only:
// the tree is found through /proc/<pid>/stat (this kernel has no /proc/<pid>/task/*/children).

export interface MeasureOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** stdout and stderr of the tool go here (kept for post-mortems and timing analysis). */
  logFile: string;
  /** The tool is killed (and the run counted as a crash) after this long; default 60 min. */
  timeoutMs?: number;
  /** Sampling period; default 50 ms. */
  pollMs?: number;
}

export interface Measured {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** Epoch ms at spawn (to line the tool's own log timestamps up with the measurement). */
  startedAt: number;
  seconds: number;
  /** Largest sum of VmRSS over the process tree seen in one sample. */
  peakTreeRssMb: number;
  /** The main process's own VmHWM (kernel-tracked high-water mark), last value read before exit. */
  mainHwmMb: number;
  /** user + system CPU seconds of the tree, as last sampled (up to one period short). */
  cpuSeconds: number;
  samples: number;
}

const KIB_PER_MIB = 1024;
/** USER_HZ: what /proc/<pid>/stat counts CPU time in (100 on every Linux this runs on). */
const TICKS_PER_SECOND = 100;
/** How often the set of descendants is refreshed (walking all of /proc is the costly part). */
const TREE_REFRESH_MS = 250;
const active = new Set<ChildProcess>();

/** Kills every tool still running (the bench was interrupted): no orphan keeps uploading. */
export function killActiveTools(): void {
  for (const child of active) child.kill('SIGKILL');
}

function readStatusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    return match ? Number(match[1]) : 0;
  } catch {
    return 0; // the process ended between listing and reading
  }
}

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces or ')'). */
function statFields(pid: number | string): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** user + system CPU seconds of one live process (0 once it is gone). */
export function cpuSecondsOf(pid: number): number {
  const f = statFields(pid);
  // After the name: state(0) ppid(1) … utime(11) stime(12).
  return f ? (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND : 0;
}

/** Every live descendant of root (root included), from the ppid field of /proc/<pid>/stat. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const f = statFields(name);
    if (!f) continue;
    const ppid = Number(f[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(name));
    children.set(ppid, list);
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i] as number) ?? []));
  return tree;
}

/** The pid of a descendant of this process whose command line contains `needle`. */
export function findDescendant(needle: string): number | undefined {
  return processTree(process.pid).find((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle);
    } catch {
      return false;
    }
  });
}

class TreeSampler {
  peakTreeKb = 0;
  mainHwmKb = 0;
  samples = 0;
  private tree: number[];
  private treeAt = 0;
  private readonly cpu = new Map<number, number>();

  constructor(private readonly pid: number) {
    this.tree = [pid];
  }

  sample(): void {
    const now = performance.now();
    if (now - this.treeAt >= TREE_REFRESH_MS) {
      this.tree = processTree(this.pid);
      this.treeAt = now;
    }
    let rss = 0;
    for (const p of this.tree) {
      rss += readStatusKb(p, 'VmRSS');
      this.cpu.set(p, Math.max(this.cpu.get(p) ?? 0, cpuSecondsOf(p)));
    }
    this.peakTreeKb = Math.max(this.peakTreeKb, rss);
    this.mainHwmKb = Math.max(this.mainHwmKb, readStatusKb(this.pid, 'VmHWM'));
    this.samples++;
  }

  get cpuSeconds(): number {
    return [...this.cpu.values()].reduce((a, b) => a + b, 0);
  }
}

export function runMeasured(command: string, args: string[], options: MeasureOptions): Promise<Measured> {
  const out = openSync(options.logFile, 'a');
  const startedAt = Date.now();
  const started = performance.now();
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', out, out] });
  closeSync(out);
  active.add(child);
  const sampler = child.pid === undefined ? undefined : new TreeSampler(child.pid);
  sampler?.sample();
  const poll = setInterval(() => sampler?.sample(), options.pollMs ?? 50);
  let timedOut = false;
  const timeout = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs ?? 60 * 60_000);
  const done = () => {
    active.delete(child);
    clearInterval(poll);
    clearTimeout(timeout);
  };
  return new Promise((resolve, reject) => {
    child.once('error', (error) => {
      done();
      reject(error);
    });
    child.once('exit', (code, signal) => {
      const seconds = (performance.now() - started) / 1000;
      done();
      resolve({
        code,
        signal,
        timedOut,
        startedAt,
        seconds,
        peakTreeRssMb: (sampler?.peakTreeKb ?? 0) / KIB_PER_MIB,
        mainHwmMb: (sampler?.mainHwmKb ?? 0) / KIB_PER_MIB,
        cpuSeconds: sampler?.cpuSeconds ?? 0,
        samples: sampler?.samples ?? 0,
      });
    });
  });
}
