// Starts the local S3 stand-in (s3-server.cjs) as a child process and waits until it listens.
// A child, not in-process: s3rver needs `--openssl-legacy-provider` for ListObjectsV2 pagination,
// and its filesystem work stays off the caller's event loop.
import { randomUUID } from 'node:crypto';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DEFAULT_CONFIG, parseDeploymentConfig, type DeploymentConfig } from '../infra/config.ts';
import { transitionRules, type TransitionRule } from '../infra/lifecycle-tiers.ts';

/** s3rver's built-in account; requests signed with anything else are refused. */
export const LOCAL_S3_CREDENTIALS = Object.freeze({ accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' });

/** One S3 notification as s3rver emits it (the shape of an S3 event notification). */
export interface LocalS3Event {
  Records: Array<{ eventName: string; eventTime: string; s3: { bucket: { name: string }; object: { key: string; size?: number; eTag?: string } } }>;
}

export interface LocalS3Options {
  /** Where buckets and objects are kept (created when missing). */
  directory: string;
  /** 0 (default) picks a free port. */
  port?: number;
  buckets: string[];
  /**
   * Buckets made without Object Lock and lifecycle rules, as a bucket made by hand would be (a
   * peer's own repository in the bench: restic writes through rclone without Content-MD5, which
   * S3 refuses under Object Lock, and prunes what a lock would keep).
   */
  plainBuckets?: string[];
  onEvent?: (event: LocalS3Event) => void;
  /** How long to wait for the server to listen; default 15 s. */
  readyTimeoutMs?: number;
  /**
   * The deployment whose data bucket the stand-in's buckets copy: Object Lock default retention and
   * lifecycle rules (infra/data-bucket.ts, infra/lifecycle-tiers.ts). Default: the default deployment.
   */
  deployment?: DeploymentConfig;
  /** How long a RestoreObject takes, on the stand-in's clock; default S3's (12 h for Deep Archive, Standard tier). */
  restoreDelayMs?: number;
  /** Starts the stand-in's clock this far ahead of real time. */
  clockOffsetMs?: number;
}

/** What one lifecycle pass did to one bucket. */
export interface LifecycleReport {
  bucket: string;
  transitioned: Array<{ key: string; from: string; to: string }>;
  aborted: string[];
  expired: string[];
}

/** The bucket settings the stand-in applies (FERRY_S3_BUCKET_CONFIG), derived from the deployment as the CDK stack does. */
export interface LocalBucketConfig {
  objectLock: { mode: 'GOVERNANCE' | 'COMPLIANCE'; days: number };
  lifecycle: { rules: TransitionRule[]; abortIncompleteMultipartDays: number; noncurrentVersionExpirationDays: number };
  restoreDelayMs?: number;
}

export function localBucketConfig(deployment: DeploymentConfig, restoreDelayMs?: number): LocalBucketConfig {
  const { objectLock, lifecycle } = deployment;
  return {
    objectLock: { mode: objectLock.mode === 'compliance' ? 'COMPLIANCE' : 'GOVERNANCE', days: objectLock.defaultRetentionDays },
    lifecycle: {
      rules: transitionRules(lifecycle),
      abortIncompleteMultipartDays: lifecycle.abortIncompleteMultipartDays,
      noncurrentVersionExpirationDays: lifecycle.noncurrentVersionExpirationDays,
    },
    ...(restoreDelayMs === undefined ? {} : { restoreDelayMs }),
  };
}

export interface LocalS3 {
  endpoint: string;
  port: number;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** The bucket settings in force. */
  bucketConfig: LocalBucketConfig;
  /**
   * Moves the stand-in's clock forward and runs one lifecycle pass (transitions, restores that came
   * due, aborted uploads, expired noncurrent versions). Only the parent can do this: it goes over
   * IPC, not over any S3 route.
   */
  advanceClock(ms: number): Promise<{ now: Date; reports: LifecycleReport[] }>;
  /** The child's process id. */
  pid: number;
  /** Sends SIGTERM and resolves when the child has exited (idempotent). */
  stop(): Promise<void>;
}

const SERVER_ENTRY = fileURLToPath(new URL('./s3-server.cjs', import.meta.url));
const STDERR_TAIL = 4096;

type ChildMessage =
  | { type: 'ready'; port: number }
  | { type: 's3-event'; event: LocalS3Event }
  | { type: 'clock-done'; id: string; now: string; reports: LifecycleReport[] };

export function startLocalS3(opts: LocalS3Options): Promise<LocalS3> {
  const args = ['--directory', opts.directory, '--port', String(opts.port ?? 0)];
  for (const bucket of opts.buckets) args.push('--bucket', bucket);
  const bucketConfig = localBucketConfig(opts.deployment ?? parseDeploymentConfig(DEFAULT_CONFIG), opts.restoreDelayMs);
  const env = {
    ...process.env,
    FERRY_S3_BUCKET_CONFIG: JSON.stringify(bucketConfig),
    FERRY_S3_PLAIN_BUCKETS: (opts.plainBuckets ?? []).join(','),
    FERRY_S3_CLOCK_OFFSET_MS: String(opts.clockOffsetMs ?? 0),
  };
  const child = fork(SERVER_ENTRY, args, {
    env,
    execArgv: ['--openssl-legacy-provider'],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_TAIL);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  return new Promise<LocalS3>((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`local S3 stand-in ${why}${stderr ? `; stderr:\n${stderr.trimEnd()}` : ''}`));
    };
    const timer = setTimeout(() => fail(`not ready within ${opts.readyTimeoutMs ?? 15_000} ms`), opts.readyTimeoutMs ?? 15_000);
    child.once('error', (error) => fail(`failed to start: ${error.message}`));
    const onEarlyExit = (code: number | null, signal: string | null) =>
      fail(`exited before it was ready (code ${code}, signal ${signal})`);
    child.once('exit', onEarlyExit);
    const clockWaiters = new Map<string, (done: { now: Date; reports: LifecycleReport[] }) => void>();
    const advanceClock = (ms: number) =>
      new Promise<{ now: Date; reports: LifecycleReport[] }>((resolveClock, rejectClock) => {
        if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`advanceClock takes a non-negative number of milliseconds, not ${ms}`);
        const id = randomUUID();
        clockWaiters.set(id, resolveClock);
        child.send({ type: 'clock', advanceMs: ms, id }, (error) => {
          if (error) {
            clockWaiters.delete(id);
            rejectClock(error);
          }
        });
      });
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'clock-done') {
        clockWaiters.get(message.id)?.({ now: new Date(message.now), reports: message.reports });
        clockWaiters.delete(message.id);
      } else if (message.type === 's3-event') {
        opts.onEvent?.(message.event);
      } else if (message.type === 'ready') {
        clearTimeout(timer);
        child.off('exit', onEarlyExit);
        resolve({
          endpoint: `http://127.0.0.1:${message.port}`,
          port: message.port,
          credentials: { ...LOCAL_S3_CREDENTIALS },
          bucketConfig,
          advanceClock,
          pid: child.pid ?? -1,
          stop: () => stopChild(child, exited),
        });
      }
    });
  });
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    const force = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(force);
  }
}
