import { startLocalCloud, type LocalCloud } from '../../local/cloud.ts';
import type { CloudProcessReady, CloudProcessRequest, CloudProcessReply } from './cloud-process.ts';

// The local cloud of a bench row in a process of its own (scripts/bench/cloud-process.ts forks
// this file): the gateways, the front doors and the function workers' parent run here, as on
// AWS where the players' CPU is not the service's. Argument: JSON { directory, fresh }.
// Answers the bench over IPC (drain, ingest errors, stop); stops the cloud, and with it the
// stand-ins, when told to, on SIGINT/SIGTERM, and when the bench goes away (IPC closed).

const send = (message: CloudProcessReady | CloudProcessReply | { type: 'failed'; message: string }) =>
  new Promise<void>((resolve) => (process.connected ? process.send!(message, () => resolve()) : resolve()));

async function main(): Promise<void> {
  const { directory, fresh, replayEnvironments } = JSON.parse(process.argv[2] ?? '{}') as { directory: string; fresh: boolean; replayEnvironments?: number };
  let cloud: LocalCloud | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (code: number) =>
    (stopping ??= (async () => {
      await cloud?.stop().catch(() => undefined);
      process.exit(code);
    })());
  process.on('disconnect', () => void stop(0));
  process.on('SIGINT', () => void stop(130));
  process.on('SIGTERM', () => void stop(143));
  try {
    cloud = await startLocalCloud({ directory, fresh, replayEnvironments });
  } catch (error) {
    await send({ type: 'failed', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    return void stop(1);
  }
  // Told to stop while starting: the cloud just started is stopped by stop() itself.
  if (stopping) return void stop(0);
  const iam = cloud.iam!;
  process.on('message', (m: CloudProcessRequest) => void answer(cloud!, m, stop));
  await send({
    type: 'ready',
    info: {
      ...{ bucket: cloud.bucket, table: cloud.table, region: cloud.region, apiUrl: cloud.apiUrl, replayUrl: cloud.replayUrl },
      ...{ s3Endpoint: cloud.s3Endpoint, dynamoEndpoint: cloud.dynamoEndpoint, credentials: cloud.credentials, children: cloud.children },
      iam: { s3Endpoint: iam.s3Endpoint, dynamoEndpoint: iam.dynamoEndpoint, credentialsFile: iam.credentialsFile },
    },
  });
}

async function answer(cloud: LocalCloud, m: CloudProcessRequest, stop: (code: number) => Promise<void>): Promise<void> {
  try {
    if (m.op === 'stop') {
      await cloud.stop();
      await send({ id: m.id, ok: true });
      return void stop(0);
    }
    if (m.op === 'drain') await cloud.drain();
    await send({ id: m.id, ok: true, value: m.op === 'ingestErrors' ? cloud.ingestErrors : undefined });
  } catch (error) {
    await send({ id: m.id, ok: false, error: error instanceof Error ? error.message : String(error) });
  }
}

void main();
