import { signedFetch } from '../../adapters/sigv4.ts';

// Signed requests to the local stand-ins of the catalogue API (execute-api) and the replay URL
// (lambda), as the CLI and any AWS SDK client sign them.

export const TEST_KEY = Object.freeze({ accessKeyId: 'AKIDFERRYTEST', secretAccessKey: 'ferry-test-secret' });
export const TEST_REGION = 'us-east-1';

interface GetOptions {
  headers?: Record<string, string>;
  method?: 'GET' | 'HEAD';
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

export function apiGet(url: string, o: GetOptions = {}): Promise<Response> {
  return signedFetch(url, { service: 'execute-api', region: TEST_REGION, ...o, credentials: o.credentials ?? TEST_KEY });
}

export function replayGet(url: string, o: GetOptions = {}): Promise<Response> {
  return signedFetch(url, { service: 'lambda', region: TEST_REGION, ...o, credentials: o.credentials ?? TEST_KEY });
}
