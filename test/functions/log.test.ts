import { describe, it, expect, vi } from 'vitest';
import { jsonLog, powertoolsLogger } from '../../functions/shared/log.ts';

describe('function logs', () => {
  it('go through the Powertools logger as structured JSON with the service name and the detail', () => {
    const lines: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => (lines.push(String(chunk)), true));
    const errSpy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (lines.push(String(chunk)), true));
    try {
      jsonLog('warn', 'manifest refused', { manifestKey: 'manifests/site-a/x.json' });
    } finally {
      spy.mockRestore();
      errSpy.mockRestore();
    }
    expect(powertoolsLogger()).toBe(powertoolsLogger());
    const entry = JSON.parse(lines.join('').trim().split('\n').pop()!);
    expect(entry).toMatchObject({ level: 'WARN', message: 'manifest refused', service: 'ferry', manifestKey: 'manifests/site-a/x.json' });
  });
});
