import { describe, expect, it } from 'vitest';
import { presignReplayLink } from '../../adapters/replay-link.ts';
import { verifySigV4, VerifiedLinks, type SigV4Policy } from '../../local/sigv4-verify.ts';
import { TEST_KEY, TEST_REGION } from '../support/signed.ts';

// The replay front door keeps the presigned links whose signature it recomputed, so the 8
// ranges of a play do not each recompute it. What it keeps must never let through what a
// fresh verification refuses: another signature, a changed or removed secret, an expired link.

const REPLAY = 'http://127.0.0.1:9/replay';
const SIGNED_AT = new Date('2026-04-01T12:00:00Z');

class CountingLinks extends VerifiedLinks {
  hits = 0;
  override has(material: string, secret: string): boolean {
    const hit = super.has(material, secret);
    if (hit) this.hits++;
    return hit;
  }
}

async function setup() {
  const link = new URL(await presignReplayLink({ replayUrl: REPLAY, region: TEST_REGION, site: 'site-a', rid: `r${'a'.repeat(23)}`, credentials: TEST_KEY, expiresInSeconds: 60, now: SIGNED_AT }));
  const secrets = new Map<string, string>([[TEST_KEY.accessKeyId, TEST_KEY.secretAccessKey]]);
  const clock = { at: new Date(SIGNED_AT.getTime() + 1000) };
  const verified = new CountingLinks();
  const policy: SigV4Policy = { service: 'lambda', region: TEST_REGION, secrets, now: () => clock.at, verified };
  const check = (url: URL = link) => verifySigV4({ method: 'GET', rawPath: url.pathname, searchParams: url.searchParams, headers: { host: url.host } }, policy);
  return { link, secrets, clock, verified, check };
}

describe('front door: verified presigned links', () => {
  it('accepts a link again from what it kept, without recomputing its signature', async () => {
    const { check, verified } = await setup();
    expect(await check()).toEqual({ ok: true, accessKeyId: TEST_KEY.accessKeyId });
    expect(verified.hits).toBe(0);
    for (let i = 0; i < 7; i++) expect(await check()).toEqual({ ok: true, accessKeyId: TEST_KEY.accessKeyId });
    expect(verified.hits).toBe(7);
  });

  it('still refuses the same link with an altered signature, site or expiry once the real one is kept', async () => {
    const { check, link } = await setup();
    expect((await check()).ok).toBe(true);
    const forged = new URL(link);
    const signature = link.searchParams.get('X-Amz-Signature')!;
    forged.searchParams.set('X-Amz-Signature', `${signature.slice(0, -1)}${signature.endsWith('0') ? '1' : '0'}`);
    expect(await check(forged)).toMatchObject({ ok: false, errorType: 'InvalidSignatureException' });
    const longer = new URL(link);
    longer.searchParams.set('X-Amz-Expires', '3600');
    expect(await check(longer)).toMatchObject({ ok: false, errorType: 'InvalidSignatureException' });
    const otherSite = new URL(link.toString().replace('/sites/site-a/', '/sites/site-b/'));
    expect(await check(otherSite)).toMatchObject({ ok: false, errorType: 'InvalidSignatureException' });
  });

  it('refuses a kept link once its key is removed or its secret changed, and once it expired', async () => {
    const first = await setup();
    expect((await first.check()).ok).toBe(true);
    first.secrets.set(TEST_KEY.accessKeyId, 'a-rotated-secret');
    expect(await first.check()).toMatchObject({ ok: false, errorType: 'InvalidSignatureException' });
    first.secrets.delete(TEST_KEY.accessKeyId);
    expect(await first.check()).toMatchObject({ ok: false, errorType: 'UnrecognizedClientException' });

    const second = await setup();
    expect((await second.check()).ok).toBe(true);
    second.clock.at = new Date(SIGNED_AT.getTime() + 61_000);
    expect(await second.check()).toMatchObject({ ok: false, message: expect.stringMatching(/expired/) });
  });

  it('keeps at most its limit of links, dropping the oldest first', () => {
    const links = new VerifiedLinks(2);
    links.add('a', 's');
    links.add('b', 's');
    links.add('c', 's');
    expect([links.has('a', 's'), links.has('b', 's'), links.has('c', 's')]).toEqual([false, true, true]);
    expect(links.has('b', 'other')).toBe(false);
  });
});
