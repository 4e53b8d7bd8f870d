import { describe, expect, it, vi } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getJson } from '../../cli/api-client.ts';
import { playCall, printAllCalls, renderCalls, replayLink, searchCallPages } from '../../cli/calls-commands.ts';
import type { CatalogueEntry } from '../../core/ports.ts';

// `ferry calls search` as a compliance officer reads it: a count that is a page's says so, and a
// filter given empty (an unset shell variable) is refused, never dropped (dropped, it lists every call).

const entry = (i: number) => ({ site: 'site-a', rid: `r${String(i).padStart(23, '0')}`, start: `2026-03-01T09:0${i}:00.000Z`, meta: { callId: `c${i}`, agent: 'Siobhán', caller: '+441', called: '+442', durationSec: 30 } }) as unknown as CatalogueEntry;

describe('ferry calls search', () => {
  it('says the count is one page and how to see the rest when more calls match', () => {
    expect(renderCalls([entry(1), entry(2)], true).trim().split('\n').at(-1)).toBe('2 recording(s) shown; more match: --all lists every one (or --limit N, up to 1000 a page)');
    expect(renderCalls([entry(1), entry(2)]).trim().split('\n').at(-1)).toBe('2 recording(s)');
    // A call whose metadata could not all be read is marked, and the mark explained under the table.
    const unread = { ...entry(3), issues: ["c.wav: no start or end time; end taken from the file's mtime"] };
    const marked = renderCalls([entry(1), unread]);
    expect(marked).toMatch(/Z !\s/);
    expect(marked.trim().split('\n').at(-1)).toBe("! the recorder's metadata could not all be read (e.g. a start taken from the file's time): `ferry calls search --json` lists the issues");
    expect(renderCalls([entry(1)])).not.toContain('!');
    // No call for a number: say that numbers are matched as the recorder wrote them, and which other spelling to try.
    expect(renderCalls([])).toBe('no recordings found\n');
    expect(renderCalls([], false, { number: '07700 900123' })).toBe('no recordings found\n  numbers are matched as the recorder wrote them (spaces, dashes, dots, slashes, brackets, tel:, a (0) after the country code ignored; 00 and + are the same): search the international form too (+ and the country code)\n');
    expect(renderCalls([], false, { number: '+447700900123' })).toContain('search the national form too (0…), as a recorder may have written it');
  });

  it('says which calls of how many the count found ("of 2,381", "of more than 10,000", "of at least 3" when it stopped), why there is no total, and a page that stopped at the read budget, never "no recordings found"', () => {
    const last = (out: string) => out.trim().split('\n').at(-1);
    const rest = '--all lists every one (or --limit N, up to 1000 a page)';
    expect(last(renderCalls([entry(1), entry(2)], true, {}, { total: { count: 2381, more: false } }))).toBe(`calls 1–2 of 2,381: ${rest}`);
    expect(last(renderCalls([entry(1), entry(2)], true, {}, { total: { count: 10000, more: true } }))).toBe(`calls 1–2 of more than 10,000: ${rest}`);
    expect(last(renderCalls([entry(1), entry(2)], true, {}, { total: { count: 3, more: true, stopped: { read: 50000 } } }))).toBe(`calls 1–2 of at least 3 (stopped after reading 50,000 calls: narrow --from/--to): ${rest}`);
    expect(last(renderCalls([entry(1)], true, {}, { total: { failed: 'catalogue API answered 503: busy' } }))).toBe(`1 recording(s) shown; more match (the total is not known: catalogue API answered 503: busy): ${rest}`);
    expect(last(renderCalls([entry(1)], true, {}, { stopped: { read: 50000 } }))).toBe('1 recording(s) shown: the search read 50,000 calls without filling the page (a filter few calls match); --all reads on, or narrow --from/--to');
    expect(renderCalls([], true, { agent: 'x' }, { stopped: { read: 50000 } })).toBe('no recordings found yet: the search read 50,000 calls without finding one (a filter few calls match); --all reads on, or narrow --from/--to\n');
  });

  it('says a full page that stopped at the read budget stopped before it could tell whether more match, not that it did not fill', () => {
    const last = (out: string) => out.trim().split('\n').at(-1);
    const two = [entry(1), entry(2)];
    expect(last(renderCalls(two, true, { limit: '2' }, { stopped: { read: 50000 } }))).toBe('2 recording(s) shown: the search stopped after reading 50,000 calls, before it could tell whether more match (a filter few calls match); --all reads on, or narrow --from/--to');
    expect(last(renderCalls(two, true, { limit: '3' }, { stopped: { read: 50000 } }))).toBe('2 recording(s) shown: the search read 50,000 calls without filling the page (a filter few calls match); --all reads on, or narrow --from/--to');
  });

  it('never says "of at least" fewer calls than the page shows when the count stopped before the page did', () => {
    const last = (out: string) => out.trim().split('\n').at(-1);
    expect(last(renderCalls([entry(1), entry(2)], true, {}, { total: { count: 0, more: true, stopped: { read: 50000 } } }))).toBe('calls 1–2 of at least 2 (stopped after reading 50,000 calls: narrow --from/--to): --all lists every one (or --limit N, up to 1000 a page)');
  });

  it('says under "no recordings found" that an agent and a call id match whole and with their capitals, so alice martin is not taken for no call of Alice Martin', () => {
    const hint = '  agents are matched whole and exactly as the recorder wrote them, capitals included (alice martin does not find Alice Martin): type the value as the recorder writes it\n';
    expect(renderCalls([], false, { agent: 'alice martin' })).toBe(`no recordings found\n${hint}`);
    expect(renderCalls([], false, { callId: 'abc-1' })).toContain('  call ids are matched whole and exactly as the recorder wrote them, capitals included');
    expect(renderCalls([], false, { agent: 'alice martin', callId: 'abc-1' })).toContain('  agents and call ids are matched whole');
    // With a number too, both hints; a search that found calls says neither.
    expect(renderCalls([], false, { number: '07700 900123', agent: 'alice' }).split('\n').slice(1, 3).map((l) => l.slice(2, 16))).toEqual(['numbers are ma', 'agents are mat']);
    expect(renderCalls([entry(1)], false, { agent: 'alice martin' })).not.toContain('capitals');
  });

  it("shows a sidecar's control characters escaped, never obeyed: no escape sequence, carriage return or newline reaches the terminal, one row a call", () => {
    const hostile = entry(1);
    hostile.meta = { ...hostile.meta, agent: 'Eve\u001b[2K\r2024-03-26 10:40:00Z  LEGIT-CALL\u001b]0;pwned\u0007', called: '+44\nFAKE ROW', caller: 'a\u202eb\u061cc' };
    const out = renderCalls([hostile, entry(2)]);
    expect(out).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
    expect(out.trim().split('\n')).toHaveLength(4); // header, two calls, count
    expect(out).toContain('Eve\\e[2K\\r2024-03-26 10:40:00Z  LEGIT-CALL\\e]0;pwned\\x07');
    expect(out).toContain('+44\\nFAKE ROW');
    expect(out).toContain('a\\u{202e}b\\u{61c}c');
  });

  it('refuses a filter given empty, naming the option, before asking anything', async () => {
    await expect(searchCallPages({ site: 'site-a', number: '' })).rejects.toThrow(/^--number is empty: give a value, or leave the option out$/);
    await expect(searchCallPages({ site: 'site-a', callId: '  ' })).rejects.toThrow(/^--call-id is empty/);
  });

  it('refuses --from or --to without a time zone, or not a time, naming the option and what to type, before asking anything; sends now and a spaced offset as the API takes them', async () => {
    const api = 'http://127.0.0.1:1';
    await expect(searchCallPages({ site: 'site-a', from: '2026-12-06T08:00', api })).rejects.toThrow(/^--from needs a time zone, e\.g\. 2026-12-06T08:00(:00)?/);
    await expect(searchCallPages({ site: 'site-a', to: 'yesterday', api })).rejects.toThrow(/^--to "yesterday" is not a time: give an ISO 8601 date-time with a zone/);
    const asked: string[] = [];
    const server = createServer((req, res) => {
      asked.push(req.url!);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ items: [] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'k');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 's');
    vi.stubEnv('AWS_REGION', 'eu-west-1');
    try {
      const before = Date.now();
      await searchCallPages({ site: 'site-a', from: '2026-12-05 18:01 +0100', to: 'now', api: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
      const params = new URL(asked[0]!, 'http://x').searchParams;
      expect(params.get('from')).toBe('2026-12-05T18:01:00+01:00');
      expect(Date.parse(params.get('to')!)).toBeGreaterThanOrEqual(before - 1);
      expect(params.get('to')).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    } finally {
      vi.unstubAllEnvs();
      server.close();
    }
  });

  it('with --tz reads --from/--to in that zone (the repeated hour: --from its first occurrence, --to its second; the skipped hour: the calls from the change on) and shows the starts there with their offsets', async () => {
    const asked: URLSearchParams[] = [];
    const server = createServer((req, res) => {
      asked.push(new URL(req.url!, 'http://x').searchParams);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ items: [] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'k');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 's');
    vi.stubEnv('AWS_REGION', 'eu-west-1');
    const said = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      // New York, 1 November 2026: 01:00-01:59 happened twice (EDT, then EST).
      await searchCallPages({ site: 'site-a', tz: 'America/New_York', from: '2026-11-01T01:00', to: '2026-11-01T01:59:59', api });
      expect([asked[0]!.get('from'), asked[0]!.get('to')]).toEqual(['2026-11-01T05:00:00.000Z', '2026-11-01T06:59:59.000Z']);
      expect(said.mock.calls.map((c) => String(c[0]))).toEqual([
        'ferry: --from 2026-11-01T01:00 happened twice in America/New_York (the clocks went back): read as 2026-11-01T01:00:00-04:00, its first occurrence\n',
        'ferry: --to 2026-11-01T01:59:59 happened twice in America/New_York (the clocks went back): read as 2026-11-01T01:59:59-05:00, its second occurrence\n',
      ]);
      // 8 March 2026: 02:00 became 03:00. A --from of 02:30 still finds a call at 03:10 EDT (07:10Z).
      // It is read with the offset after the change (06:30Z, 01:30 EST): the range starts at the change at the latest, an hour wider than the wall time, and no wider.
      said.mockClear();
      await searchCallPages({ site: 'site-a', tz: 'America/New_York', from: '2026-03-08T02:30', to: '2026-03-08T12:00:00Z', api });
      expect([asked[1]!.get('from'), asked[1]!.get('to')]).toEqual(['2026-03-08T06:30:00.000Z', '2026-03-08T12:00:00Z']);
      expect(said.mock.calls.map((c) => String(c[0]))).toEqual(['ferry: --from 2026-03-08T02:30 never showed in America/New_York (the clocks went forward over it): read as 2026-03-08T01:30:00-05:00\n']);
    } finally {
      said.mockRestore();
      vi.unstubAllEnvs();
      server.close();
    }
    const call = { ...entry(1), start: '2026-11-01T06:30:00.000Z' } as CatalogueEntry;
    expect(renderCalls([call], false, { tz: 'America/New_York' }).split('\n').slice(0, 2).map((l) => l.split('  ')[0])).toEqual(['start (America/New_York)', '2026-11-01 01:30:00-05:00']);
    expect(renderCalls([call]).split('\n')[1]).toMatch(/^2026-11-01 06:30:00Z /);
  });

  it('names the API it could not reach and why, not "fetch failed"', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((r) => closed.close(r));
    const target = { url, region: 'us-east-1', credentials: { accessKeyId: 'k', secretAccessKey: 's' } };
    await expect(getJson(target, '/sites/site-a/recordings')).rejects.toThrow(`the catalogue API at ${url} could not be reached (ECONNREFUSED): check the URL (cloud.api / --api, cloud.replay / --replay-url) and the network`);
  });

  it('prints --all page by page as it comes: the same JSON array and table as all at once, the first page before the last is asked for', async () => {
    const pages = [[entry(1), entry(2)], [entry(3)], [entry(4), entry(5)]];
    const asked: number[] = [];
    const written: { text: string; pagesAsked: number }[] = [];
    const server = createServer((req, res) => {
      const cursor = Number(new URL(req.url!, 'http://x').searchParams.get('cursor') ?? '0');
      asked.push(cursor);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ items: pages[cursor], ...(cursor < pages.length - 1 ? { cursor: String(cursor + 1) } : {}) }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'k');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 's');
    vi.stubEnv('AWS_REGION', 'eu-west-1');
    try {
      const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const out = { write: (text: string) => void written.push({ text, pagesAsked: asked.length }) };
      expect(await printAllCalls({ site: 'site-a', all: true, json: true, api }, out)).toBe(5);
      expect(written.map((w) => w.text).join('')).toBe(`${JSON.stringify(pages.flat(), null, 2)}\n`);
      expect(written[0]!.pagesAsked).toBe(1);
      written.length = 0;
      await printAllCalls({ site: 'site-a', all: true, api }, out);
      expect(written.map((w) => w.text).join('')).toBe(renderCalls(pages.flat()));
      // --all that finds nothing says how an agent is matched, as a single page does.
      pages.splice(0, pages.length, []);
      written.length = 0;
      await printAllCalls({ site: 'site-a', all: true, agent: 'alice martin', api }, out);
      expect(written.map((w) => w.text).join('')).toBe(renderCalls([], false, { agent: 'alice martin' }));
    } finally {
      vi.unstubAllEnvs();
      server.close();
    }
  });

  it('calls play never writes over a file that is there, and asks nothing before saying so', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'ferry-play-')), 'call.wav');
    writeFileSync(out, 'mine');
    await expect(playCall('site-a/r00000000000000000000001', { out, api: 'http://127.0.0.1:1' })).rejects.toThrow(`--out ${out} exists: a recording is never written over a file`);
    expect(readFileSync(out, 'utf8')).toBe('mine');
  });

  it('calls play into a directory that does not exist says so, naming it, before asking anything (no download audited, no bare ENOENT of call.wav.part)', async () => {
    const missing = join(mkdtempSync(join(tmpdir(), 'ferry-play-')), 'no-such-dir');
    const out = join(missing, 'call.wav');
    await expect(playCall('site-a/r00000000000000000000001', { out, api: 'http://127.0.0.1:1' })).rejects.toThrow(`--out ${out}: ${missing} is not a directory that exists: create it, or choose another path`);
  });
});

describe('ferry calls link', () => {
  it('refuses an id that cannot be a call and a lifetime out of range before signing anything (a link that could only answer 400 was printed, exit 0)', async () => {
    const opts = { replayUrl: 'http://127.0.0.1:1/', region: 'us-east-1' };
    await expect(replayLink('demo/R8FDF734A90AA3D6CACC0452', opts)).rejects.toThrow('"R8FDF734A90AA3D6CACC0452" in "demo/R8FDF734A90AA3D6CACC0452" is not a recording id (r and 23 lowercase hex digits');
    await expect(replayLink('Demo_Site/r8fdf734a90aa3d6cacc0452', opts)).rejects.toThrow('"Demo_Site" in "Demo_Site/r8fdf734a90aa3d6cacc0452" is not a site name');
    await expect(replayLink('demo/r8fdf734a90aa3d6cacc0452', { ...opts, expires: 'abc' })).rejects.toThrow('--expires "abc": a link lives 1 to 3600 whole seconds');
    // An endpoint that is no URL, or speaks another scheme, is named with where it came from.
    await expect(replayLink('demo/r8fdf734a90aa3d6cacc0452', { replayUrl: 'notaurl' })).rejects.toThrow('--replay-url "notaurl" is not a URL');
    await expect(replayLink('demo/r8fdf734a90aa3d6cacc0452', { replayUrl: 'ftp://x/' })).rejects.toThrow('--replay-url "ftp://x/": only https:// (or http:// for a local cloud) is spoken');
  });

  it('mints a download link with a warning when replay cannot be reached to check it (signed offline, as a listen link is), rather than none', async () => {
    // Port 1: fetch will not even try it (a port it blocks), as a machine without network cannot.
    const port = 1;
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIAIOSFODNN7EXAMPLE');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY');
    vi.stubEnv('AWS_SESSION_TOKEN', '');
    vi.stubEnv('AWS_PROFILE', '');
    try {
      const link = await replayLink('demo/r8fdf734a90aa3d6cacc0452', { replayUrl: `http://127.0.0.1:${port}`, region: 'us-east-1', download: true });
      const url = new URL(link.url);
      expect(url.pathname).toBe('/sites/demo/recordings/r8fdf734a90aa3d6cacc0452/audio');
      expect(url.searchParams.get('download')).toBe('1');
      expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
      expect(link.warning).toMatch(/^the replay URL at http:\/\/127\.0\.0\.1:1 could not be reached to check the download link \(.+\): minted unchecked; if these credentials are a site's listener role, replay refuses it when opened\. Check the URL \(cloud\.replay \/ --replay-url\) and the network$/);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
