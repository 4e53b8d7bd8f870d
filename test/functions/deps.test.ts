import { describe, expect, it } from 'vitest';
import { DynamoCatalogue } from '../../adapters/dynamo-catalogue.ts';
import { S3BlobStore } from '../../adapters/s3-blob-store.ts';
import { ConfigError } from '../../core/errors.ts';
import { cursorKeyFrom, loadDeps } from '../../functions/shared/deps.ts';
import { lazyHandler } from '../../functions/shared/lambda.ts';

describe('functions composition root', () => {
  it('takes the cursor key from CURSOR_KEY and refuses to start without one of at least 32 characters', () => {
    expect(cursorKeyFrom({ CURSOR_KEY: 'k'.repeat(64) })).toBe('k'.repeat(64));
    for (const env of [{}, { CURSOR_KEY: 'short' }]) {
      expect(() => cursorKeyFrom(env)).toThrow(ConfigError);
      expect(() => cursorKeyFrom(env)).toThrow(/CURSOR_KEY/);
    }
  });

  it('lists every missing or bad variable', () => {
    const error = (() => {
      try {
        loadDeps({ AWS_ENDPOINT_URL_S3: 'not a url' });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.join('\n')).toMatch(/BUCKET[\s\S]*TABLE[\s\S]*AWS_ENDPOINT_URL_S3/);
  });

  it('builds the S3 and DynamoDB adapters without touching the network', () => {
    const deps = loadDeps({ BUCKET: 'ferry-data', TABLE: 'ferry-catalogue', AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:1' });
    expect(deps.blobs).toBeInstanceOf(S3BlobStore);
    expect(deps.catalogue).toBeInstanceOf(DynamoCatalogue);
  });

  it('builds a lazy handler once, on first invocation', async () => {
    let builds = 0;
    const handler = lazyHandler(() => {
      builds++;
      return async (event: number) => event * 2;
    });
    expect(builds).toBe(0);
    expect(await handler(2)).toBe(4);
    expect(await handler(3)).toBe(6);
    expect(builds).toBe(1);
  });
});
