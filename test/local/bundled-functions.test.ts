import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoClients } from '../../adapters/aws-clients.ts';
import { createCatalogueTable } from '../../adapters/dynamo-catalogue.ts';
import { dynamoLockStore } from '../../adapters/dynamo-lock.ts';
import { systemClock } from '../../core/clock.ts';
import { LOCAL_BUCKET, LOCAL_REGION, LOCAL_TABLE } from '../../core/deployment.ts';
import { startLocalDynamo, type LocalDynamo } from '../../local/dynalite-process.ts';
import { buildFunctionBundles } from '../../local/function-bundles.ts';
import { LocalLambda, standInEnvironment } from '../../local/local-lambda.ts';

// The lock function as it deploys: its minified bundle (built with the CDK's own options), in
// a runtime of its own, against dynalite. A held lock must reach Step Functions as
// errorType LockHeldError, the name the workflows' Retry and Catch match. dynalite alone, no IAM
// gateway: what is checked is the bundle's error names (the lock role's grants are checked through
// the gateway by test/workflows/local-cloud.test.ts).

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
let dir: string;
let dynamo: LocalDynamo;
let lock: LocalLambda;
let bundle: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-bundled-'));
  dynamo = await startLocalDynamo({ directory: join(dir, 'dynamo') });
  const { client, doc } = createDynamoClients({ region: LOCAL_REGION, endpoint: dynamo.endpoint, credentials });
  await createCatalogueTable(client, LOCAL_TABLE);
  await dynamoLockStore(doc, LOCAL_TABLE, systemClock).acquire({ site: 'site-a', holder: 'other-execution', operation: 'purge' });
  doc.destroy();
  ({ lock: bundle } = await buildFunctionBundles(['lock']));
  // No S3 in this test: the lock function touches only the table.
  const s3Endpoint = 'http://127.0.0.1:9';
  const cloud = { s3Endpoint, dynamoEndpoint: dynamo.endpoint, bucket: LOCAL_BUCKET, table: LOCAL_TABLE, credentials, region: LOCAL_REGION };
  lock = await LocalLambda.start({ functionName: 'ferry-lock', bundle, environment: standInEnvironment(cloud) });
}, 120_000);

afterAll(async () => {
  await lock?.stop();
  await dynamo?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('the bundled lock function', () => {
  it('is the minified build (not the TypeScript source) that exports handler', () => {
    const code = readFileSync(bundle, 'utf8');
    const lines = code.split('\n');
    expect(code.length / lines.length).toBeGreaterThan(400);
    expect(code).not.toMatch(/from\s*['"]\.\.?\//);
    expect(code).toMatch(/export\s*\{[^}]*\bhandler\b/);
  });

  it('reports a lock held by another execution with errorType exactly LockHeldError', async () => {
    const event = { action: 'acquire', site: 'site-a', operation: 'backup', holder: 'this-execution', staleAfterSeconds: 43_200 };
    const error = (await lock.invoke(event).then(
      () => undefined,
      (e: unknown) => e,
    )) as { name: string; errorType: string; message: string } | undefined;
    expect(error?.errorType).toBe('LockHeldError');
    expect(error?.name).toBe('LockHeldError');
    expect(error?.message).toContain('other-execution');
  });

  it('grants a free lock through the same bundle', async () => {
    const event = { action: 'acquire', site: 'site-b', operation: 'backup', holder: 'this-execution', staleAfterSeconds: 43_200 };
    const grant = (await lock.invoke(event)) as { token: number };
    expect(grant.token).toBeGreaterThan(0);
  });
});
