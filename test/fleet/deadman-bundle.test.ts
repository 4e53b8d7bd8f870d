import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEARTBEAT_FORMAT, heartbeatKey, type Heartbeat } from '../../core/fleet.ts';
import { startLocalCloud, type LocalCloud } from '../../local/cloud.ts';
import { buildFunctionBundles } from '../../local/function-bundles.ts';
import { LocalLambda, standInEnvironment } from '../../local/local-lambda.ts';

// The dead-man's switch as it deploys: its minified bundle in a runtime of its own, against the
// local S3 and DynamoDB, publishing to an SNS stand-in that records each Publish. The test is
// the schedule: it invokes the function as EventBridge would, and the heartbeats' ages are set
// against the wall clock the bundle reads.

const TOPIC = 'arn:aws:sns:us-east-1:000000000000:ferry-alerts';
let dir: string;
let cloud: LocalCloud;
let fn: LocalLambda;
let sns: Server;
const published: Array<{ subject: string; message: string }> = [];

/** Just enough of SNS's query protocol: Publish, answered with a PublishResponse. */
function startSns(): Promise<string> {
  sns = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      const form = new URLSearchParams(body);
      if (form.get('Action') === 'Publish' && form.get('TopicArn') === TOPIC) published.push({ subject: form.get('Subject') ?? '', message: form.get('Message') ?? '' });
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end('<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>m1</MessageId></PublishResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></PublishResponse>');
    });
  });
  return new Promise((resolve) => sns.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(sns.address() as AddressInfo).port}`)));
}

async function beat(site: string, minutesAgo: number): Promise<void> {
  const at = new Date(Date.now() - minutesAgo * 60_000);
  const hb: Heartbeat = { format: HEARTBEAT_FORMAT, site, at: at.toISOString(), agentVersion: 't', sources: [], losses: 0, lastPass: { at: at.toISOString(), failed: 0, lost: 0 } };
  await cloud.blobs.put(heartbeatKey(site, at), Buffer.from(JSON.stringify(hb)));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-deadman-'));
  const [started, snsUrl, bundles] = await Promise.all([startLocalCloud({ directory: join(dir, 'cloud'), fresh: true }), startSns(), buildFunctionBundles(['deadman'])]);
  cloud = started;
  const sites = JSON.stringify([{ name: 'site-a', silentAfterMinutes: 90 }, { name: 'site-b', silentAfterMinutes: 30 }]);
  fn = await LocalLambda.start({ functionName: 'ferry-deadman', bundle: bundles.deadman, environment: standInEnvironment(cloud, { TOPIC_ARN: TOPIC, FLEET_SITES: sites, AWS_ENDPOINT_URL_SNS: snsUrl }) });
}, 120_000);

afterAll(async () => {
  await fn?.stop();
  await cloud?.stop();
  sns?.close();
  rmSync(dir, { recursive: true, force: true });
});

type Result = { outcomes: Array<{ site: string; action: string; state: string }> };

describe("the bundled dead-man's switch", () => {
  it('alerts the site silent past its own silentAfterMinutes once, stays quiet on the next run, and resolves when it reports again', async () => {
    await beat('site-a', 60);
    await beat('site-b', 45);
    expect(((await fn.invoke({ source: 'aws.events' })) as Result).outcomes).toEqual([
      { site: 'site-b', action: 'raised', state: 'SILENT' },
      { site: 'site-a', action: 'none', state: 'OK' },
    ]);
    expect(published.map((p) => p.subject)).toEqual(['Ferry site-b: agent silent']);
    expect(published[0]!.message).toMatch(/no heartbeat for 45 min \(silent after 30 min\)/);

    // 15 minutes later for EventBridge: the state on the table remembers the alert.
    expect(((await fn.invoke({ source: 'aws.events' })) as Result).outcomes.find((o) => o.site === 'site-b')?.action).toBe('none');
    expect(published).toHaveLength(1);

    await beat('site-b', 1);
    expect(((await fn.invoke({ source: 'aws.events' })) as Result).outcomes.find((o) => o.site === 'site-b')).toEqual({ site: 'site-b', action: 'resolved', state: 'OK' });
    expect(published.map((p) => p.subject)).toEqual(['Ferry site-b: agent silent', 'Ferry site-b: resolved - agent heard from again']);
  });
});
