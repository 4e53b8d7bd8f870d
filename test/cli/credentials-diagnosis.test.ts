import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createS3Client } from '../../adapters/aws-clients.ts';
import { S3BlobStore } from '../../adapters/s3-blob-store.ts';
import { explainMissingCredentials } from '../../cli/credentials-diagnosis.ts';

// The SDK says "Could not load credentials from any providers" whatever the cause; the agent
// says which: a misspelt profile, a credential_process that failed (its own words), keys missing.

function files(config: string, credentials = '') {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-creds-'));
  writeFileSync(join(dir, 'config'), config);
  writeFileSync(join(dir, 'credentials'), credentials);
  return { AWS_CONFIG_FILE: join(dir, 'config'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'), HOME: dir, PATH: process.env.PATH };
}

afterEach(() => vi.unstubAllEnvs());

describe('why no AWS credentials could be had', () => {
  it('names a profile that is in neither file, a credential_process that failed with its last words, and keys missing from a profile', () => {
    const env = files('[profile ferry]\ncredential_process = sh -c "echo aws_signing_helper: certificate has expired >&2; exit 1"\n', '[half]\naws_access_key_id = AKIA\n');
    expect(explainMissingCredentials({ ...env, AWS_PROFILE: 'ferri' })).toBe(`AWS_PROFILE=ferri: no such profile in ${env.AWS_CONFIG_FILE} or ${env.AWS_SHARED_CREDENTIALS_FILE}`);
    expect(explainMissingCredentials({ ...env, AWS_PROFILE: 'ferry' })).toBe('the credential_process of profile ferry failed (exit 1): aws_signing_helper: certificate has expired');
    expect(explainMissingCredentials({ ...env, AWS_PROFILE: 'half' })).toBe(`profile half in ${env.AWS_SHARED_CREDENTIALS_FILE} lacks aws_access_key_id or aws_secret_access_key`);
    expect(explainMissingCredentials({ ...env, AWS_ACCESS_KEY_ID: 'AKIA' })).toBe('AWS_ACCESS_KEY_ID is set without AWS_SECRET_ACCESS_KEY');
    const expired = files('[profile old]\ncredential_process = echo \'{"Version":1,"AccessKeyId":"A","SecretAccessKey":"S","Expiration":"2020-01-01T00:00:00Z"}\'\n');
    expect(explainMissingCredentials({ ...expired, AWS_PROFILE: 'old' })).toBe('the credential_process of profile old printed credentials that expired at 2020-01-01T00:00:00Z');
  });

  it("is added to the store's error when a request fails for want of credentials", async () => {
    const env = files('[profile ferry]\ncredential_process = sh -c "echo aws_signing_helper: certificate has expired >&2; exit 1"\n');
    for (const [k, v] of Object.entries({ ...env, AWS_PROFILE: 'ferry', AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_SESSION_TOKEN: '', AWS_EC2_METADATA_DISABLED: 'true', AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '', AWS_CONTAINER_CREDENTIALS_FULL_URI: '', AWS_WEB_IDENTITY_TOKEN_FILE: '' })) vi.stubEnv(k, v);
    const store = new S3BlobStore(createS3Client({ region: 'eu-west-2', endpoint: 'http://127.0.0.1:9', maxAttempts: 1 }), 'b', { explainCredentials: () => explainMissingCredentials(process.env) });
    await expect(store.put('k', Buffer.from('x'))).rejects.toThrow(/CredentialsProviderError: .* \(the credential_process of profile ferry failed \(exit 1\): aws_signing_helper: certificate has expired\)$/);
  });
});
