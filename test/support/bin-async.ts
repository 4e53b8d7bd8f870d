import { spawn } from 'node:child_process';
import { join } from 'node:path';

// The built CLI run without blocking, for tests whose stand-in server answers from the test's
// own process (a spawnSync would wait on a server that cannot answer), with placeholder AWS
// credentials so every request is signed.

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');

/** `credentials`: whose key signs (a principal of the local IAM); default the placeholder. */
export async function ferryAsync(args: string[], home: string, credentials = { accessKeyId: 'AKIDFERRYTEST', secretAccessKey: 'ferry-test-secret' }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env, AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey, AWS_REGION: 'us-east-1', FERRY_HOME: home };
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stdout, stderr };
}
