import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CredentialTable, type CredentialEntry } from '../../local/iam-gateway/credentials.ts';

// The bench's local cloud in a process of its own (cloud-process-main.ts), as deployed: the
// players and the raw baseline run in the bench process, the gateways, front doors and function
// workers in the cloud's, so a client's CPU does not compete with the service's event loop.
// Its endpoints come back over IPC once it listens (every port chosen by the OS). Teardown:
// stop() asks it to stop and waits for it to exit (SIGKILL after a grace period); if the bench
// exits or dies first, the child sees its IPC channel close and stops the cloud (and the
// stand-ins, which watch their own channel) by itself.

/** Where the cloud process's local cloud is. */
export interface CloudProcessInfo {
  bucket: string;
  table: string;
  region: string;
  apiUrl: string;
  replayUrl: string;
  /** The stand-ins themselves (the account administrator's key, no IAM). */
  s3Endpoint: string;
  dynamoEndpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  children: { s3: number; dynamo: number };
  iam: { s3Endpoint: string; dynamoEndpoint: string; credentialsFile: string };
}

export type CloudProcessReady = { type: 'ready'; info: CloudProcessInfo };
export type CloudProcessRequest = { id: string; op: 'drain' | 'ingestErrors' | 'stop' };
export type CloudProcessReply = { id: string; ok: true; value?: unknown } | { id: string; ok: false; error: string };

export interface CloudProcess {
  info: CloudProcessInfo;
  pid: number;
  /** Every principal's keys, from the credential file the cloud wrote. */
  credentials: CredentialTable;
  drain(): Promise<void>;
  ingestErrors(): Promise<{ key: string; error: string }[]>;
  /** Stops the cloud and waits for its process to exit (idempotent). */
  stop(): Promise<void>;
}

export interface CloudProcessOptions {
  directory: string;
  fresh: boolean;
  /** Extra node flags for the cloud process (e.g. `--cpu-prof --cpu-prof-dir DIR`). */
  nodeFlags?: string[];
  /** Runtimes of the replay function in the cloud (LocalCloudOptions.replayEnvironments). */
  replayEnvironments?: number;
  readyTimeoutMs?: number;
  /** How long stop() waits before SIGKILL. */
  graceMs?: number;
}

const ENTRY = fileURLToPath(new URL('./cloud-process-main.ts', import.meta.url));

export function startCloudProcess(options: CloudProcessOptions): Promise<CloudProcess> {
  const child = fork(ENTRY, [JSON.stringify({ directory: options.directory, fresh: options.fresh, replayEnvironments: options.replayEnvironments })], {
    execArgv: ['--import', 'tsx', ...(options.nodeFlags ?? [])],
    // Its output goes to the bench's stderr: the bench's stdout carries the JSON rows.
    stdio: ['ignore', 2, 2, 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // The bench exiting (an error, process.exit in a SIGINT handler) takes the cloud along.
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);
  void exited.then(() => process.off('exit', onExit));
  return new Promise<CloudProcess>((resolve, reject) => {
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`the bench's local cloud process ${why}`));
    };
    const timer = setTimeout(() => fail(`was not ready within ${options.readyTimeoutMs ?? 120_000} ms`), options.readyTimeoutMs ?? 120_000);
    const onEarlyExit = (code: number | null, signal: string | null) => fail(`exited before it was ready (code ${code}, signal ${signal})`);
    child.once('exit', onEarlyExit);
    child.once('error', (error) => fail(`failed to start: ${error.message}`));
    child.on('message', (m: CloudProcessReady | { type: 'failed'; message: string }) => {
      if (m.type === 'failed') return fail(`could not start the local cloud: ${m.message}`);
      if (m.type !== 'ready') return;
      clearTimeout(timer);
      child.off('exit', onEarlyExit);
      const entries = (JSON.parse(readFileSync(m.info.iam.credentialsFile, 'utf8')) as { principals: CredentialEntry[] }).principals;
      resolve({
        info: m.info,
        pid: child.pid!,
        credentials: new CredentialTable(entries),
        drain: async () => void (await call(child, 'drain')),
        ingestErrors: async () => (await call(child, 'ingestErrors')) as { key: string; error: string }[],
        stop: () => stopChild(child, exited, options.graceMs ?? 15_000),
      });
    });
  });
}

/** One request to the cloud process, answered by its id. */
function call(child: ChildProcess, op: CloudProcessRequest['op']): Promise<unknown> {
  const id = randomUUID();
  return new Promise((resolve, reject) => {
    const gone = () => reject(new Error(`the bench's local cloud process exited during ${op}`));
    const onMessage = (m: CloudProcessReply) => {
      if (m.id !== id) return;
      child.off('message', onMessage);
      child.off('exit', gone);
      if (m.ok) resolve(m.value);
      else reject(new Error(`the bench's local cloud process: ${op} failed: ${m.error}`));
    };
    child.on('message', onMessage);
    child.once('exit', gone);
    child.send({ id, op } satisfies CloudProcessRequest, (error) => error && gone());
  });
}

async function stopChild(child: ChildProcess, exited: Promise<void>, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  // A stop that fails or never answers still ends in the process's exit.
  const force = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try {
    if (child.connected) await call(child, 'stop').catch(() => child.kill('SIGTERM'));
    else child.kill('SIGTERM');
    await exited;
  } finally {
    clearTimeout(force);
  }
}
