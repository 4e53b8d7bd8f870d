import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, describe, expect, it } from 'vitest';
import { DynamoCatalogue, createCatalogueTable } from '../../adapters/dynamo-catalogue.ts';
import { startLocalDynamo, stopper } from '../../local/dynalite-process.ts';
import { EventEmitter } from 'node:events';
import { makeEntry } from '../support/catalogue-fixtures.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function client(endpoint: string) {
  return new DynamoDBClient({ endpoint, region: 'local', credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, maxAttempts: 1 });
}

describe('startLocalDynamo', () => {
  it('runs dynalite in a child process and stops it', async () => {
    const dynamo = await startLocalDynamo();
    const c = client(dynamo.endpoint);
    expect((await c.send(new ListTablesCommand({}))).TableNames).toEqual([]);
    await dynamo.stop();
    await dynamo.stop(); // idempotent
    await expect(c.send(new ListTablesCommand({}))).rejects.toThrow();
    c.destroy();
  });

  it('keeps the catalogue in a directory across restarts', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'ferry-dynalite-'));
    dirs.push(directory);
    const entry = makeEntry('site-a', 1);
    const first = await startLocalDynamo({ directory });
    const c1 = client(first.endpoint);
    await createCatalogueTable(c1, 'catalogue');
    await new DynamoCatalogue(DynamoDBDocumentClient.from(c1), 'catalogue').putRecordings([entry]);
    c1.destroy();
    await first.stop();

    const second = await startLocalDynamo({ directory });
    const c2 = client(second.endpoint);
    await createCatalogueTable(c2, 'catalogue'); // exists already: no error
    expect(await new DynamoCatalogue(DynamoDBDocumentClient.from(c2), 'catalogue').getRecording('site-a', entry.rid)).toEqual(entry);
    c2.destroy();
    await second.stop();
  });

  it('fails clearly when dynalite cannot start', async () => {
    const running = await startLocalDynamo();
    const port = Number(new URL(running.endpoint).port);
    await expect(startLocalDynamo({ port })).rejects.toThrow(/dynalite did not start: .*EADDRINUSE/);
    await running.stop();
  });

  it('gives up after the start timeout', async () => {
    await expect(startLocalDynamo({ startTimeoutMs: 1 })).rejects.toThrow(/no ready message within 1 ms/);
  });

  it('stops a child whose stop message cannot be written (it got the same Ctrl-C and is exiting: EPIPE) with SIGTERM, the write error taken, not thrown', async () => {
    const signals: string[] = [];
    const child = Object.assign(new EventEmitter(), {
      exitCode: null,
      signalCode: null,
      connected: true,
      send: (_message: unknown, callback?: (error: Error | null) => void) => {
        setImmediate(() => callback?.(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })));
        return true;
      },
      kill: (signal?: NodeJS.Signals | number) => {
        signals.push(String(signal));
        setImmediate(() => child.emit('exit', null, signal));
        return true;
      },
    });
    await stopper(child as unknown as Parameters<typeof stopper>[0])();
    expect(signals).toEqual(['SIGTERM']);
  });
});
