import { describe, it, expect } from 'vitest';
import { parseAgentConfig } from '../../core/config.ts';
import { plainHttpNotes } from '../../cli/check-notes.ts';

const config = (cloud: string, alerts = '') =>
  parseAgentConfig(`site: site-a\nstate: /var/lib/ferry\ncloud: { bucket: ferry-data${cloud} }\n${alerts}sources:\n  - { name: cs, type: recordings, path: /rec }\n`);

describe('agent check on URLs that speak plain HTTP', () => {
  it('warns for an http:// store, API, replay URL and webhook on another host, naming each and what would cross unencrypted', () => {
    const notes = plainHttpNotes(config(', endpoint: "http://minio.corp.example:9000", api: "http://10.0.0.5/api", replay: "http://10.0.0.5/replay"', 'alerts: { webhook: "http://chat.corp.example/hook/SECRET" }\n'));
    expect(notes).toEqual([
      'warning: cloud.endpoint http://minio.corp.example:9000 is plain HTTP to another host: recordings, backups and their metadata (caller, called, agent) would cross the network unencrypted. Use an https:// URL (a TLS front such as the store\'s own, or a reverse proxy).',
      expect.stringMatching(/^warning: cloud\.api http:\/\/10\.0\.0\.5 is plain HTTP to another host: the catalogue's answers/),
      expect.stringMatching(/^warning: cloud\.replay http:\/\/10\.0\.0\.5 is plain HTTP/),
      expect.stringMatching(/^warning: alerts\.webhook http:\/\/chat\.corp\.example is plain HTTP to another host: alerts/),
    ]);
    // The webhook's path (its secret) is not repeated.
    expect(notes.join('\n')).not.toContain('SECRET');
  });

  it('says nothing of https:// URLs, of the local cloud on this machine, or of AWS (no endpoint)', () => {
    expect(plainHttpNotes(config(', endpoint: "https://minio.corp.example:9000", api: "https://api.example/", replay: "http://127.0.0.1:4568"', 'alerts: { webhook: "http://localhost:8080/hook" }\n'))).toEqual([]);
    expect(plainHttpNotes(config(', endpoint: "http://[::1]:4566"'))).toEqual([]);
    expect(plainHttpNotes(config(''))).toEqual([]);
  });
});
