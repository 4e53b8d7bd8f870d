import { describe, it, expect } from 'vitest';
import { parseAgentConfig } from '../../core/config.ts';
import { buildStore } from '../../cli/build-agent.ts';

// Whether the agent's store refuses to replace an object (If-None-Match: *) is declared, not
// guessed: it lets a pack the journal never saw begin skip the questions about earlier attempts.

const config = (cloud: string) =>
  parseAgentConfig(`
site: site-a
state: /tmp/small-build-store-state
cloud: ${cloud}
sources:
  - { name: cs, type: recordings, path: /tmp/small-build-store-root }
`);

const credentials = 'credentials: { accessKeyId: k, secretAccessKey: s }';

describe('the agent store built from the config', () => {
  it('declares write-once on AWS (no endpoint) and not on another endpoint by default', () => {
    expect(buildStore(config(`{ bucket: ferry-data, ${credentials} }`)).store.features.conditionalPut).toBe(true);
    expect(buildStore(config(`{ bucket: ferry-data, endpoint: 'http://127.0.0.1:9000', ${credentials} }`)).store.features.conditionalPut).toBe(false);
  });

  it('declares write-once on an endpoint whose config says writeOnce: true, and not on AWS told writeOnce: false', () => {
    const standIn = buildStore(config(`{ bucket: ferry-data, endpoint: 'http://127.0.0.1:9000', writeOnce: true, ${credentials} }`));
    expect(standIn.store.features).toEqual({ verifiesChecksums: false, conditionalPut: true, md5ETags: true });
    expect(buildStore(config(`{ bucket: ferry-data, writeOnce: false, ${credentials} }`)).store.features.conditionalPut).toBe(false);
  });
});
