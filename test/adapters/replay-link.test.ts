import { describe, it, expect } from 'vitest';
import { presignReplayLink } from '../../adapters/replay-link.ts';

const base = { replayUrl: 'https://abc123.lambda-url.eu-west-2.on.aws/', region: 'eu-west-2', site: 'site-a', rid: 'r0123456789abcdef0123456', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' }, now: new Date('2026-11-23T10:00:00Z') };

describe('short-lived replay links', () => {
  it('presigns the replay path for lambda, five minutes by default', async () => {
    const url = new URL(await presignReplayLink(base));
    expect(url.origin + url.pathname).toBe('https://abc123.lambda-url.eu-west-2.on.aws/sites/site-a/recordings/r0123456789abcdef0123456/audio');
    expect(url.searchParams.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    expect(url.searchParams.get('X-Amz-Credential')).toBe('AKIDEXAMPLE/20261123/eu-west-2/lambda/aws4_request');
    expect(url.searchParams.get('X-Amz-Date')).toBe('20261123T100000Z');
    expect(url.searchParams.get('X-Amz-Expires')).toBe('300');
    expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('signs each recording, lifetime and mode differently', async () => {
    const sig = async (o: Partial<typeof base> & { expiresInSeconds?: number; download?: boolean }) => new URL(await presignReplayLink({ ...base, ...o })).searchParams.get('X-Amz-Signature');
    const first = await sig({});
    expect(await sig({})).toBe(first);
    expect(await sig({ rid: 'r0123456789abcdef0123457' })).not.toBe(first);
    expect(await sig({ expiresInSeconds: 60 })).not.toBe(first);
    expect(await sig({ download: true })).not.toBe(first);
    expect(new URL(await presignReplayLink({ ...base, download: true })).searchParams.get('download')).toBe('1');
  });

  it('signs the recording\'s place (pack, offset, length) into the query when given', async () => {
    const place = { packKey: 'recordings/site-a/2026/11/23/p0123456789abcdef0123456.tar', offset: 1536, length: 2000 };
    const url = new URL(await presignReplayLink({ ...base, place }));
    expect([url.searchParams.get('pack'), url.searchParams.get('offset'), url.searchParams.get('length')]).toEqual([place.packKey, '1536', '2000']);
    const plain = new URL(await presignReplayLink(base));
    expect(plain.searchParams.has('pack')).toBe(false);
    expect(url.searchParams.get('X-Amz-Signature')).not.toBe(plain.searchParams.get('X-Amz-Signature'));
    const moved = new URL(await presignReplayLink({ ...base, place: { ...place, offset: 1537 } }));
    expect(moved.searchParams.get('X-Amz-Signature')).not.toBe(url.searchParams.get('X-Amz-Signature'));
  });

  it('refuses a lifetime outside 1-3600 s', async () => {
    await expect(presignReplayLink({ ...base, expiresInSeconds: 0 })).rejects.toThrow(/1-3600 seconds/);
    await expect(presignReplayLink({ ...base, expiresInSeconds: 86_400 })).rejects.toThrow(/1-3600 seconds/);
  });
});
