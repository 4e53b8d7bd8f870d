import { DeleteObjectsCommand, HeadObjectCommand, ListObjectVersionsCommand, RestoreObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { GetActivityTaskCommand, SendTaskHeartbeatCommand, SFNClient, SFNServiceException } from '@aws-sdk/client-sfn';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseRestoreHeader, S3ArchiveStore } from '../../adapters/s3-archive.ts';
import { S3ObjectDeleter } from '../../adapters/s3-purge.ts';
import { SfnActivityClient } from '../../adapters/sfn-activity-client.ts';
import { SnsNotifier } from '../../adapters/sns-notifier.ts';
import { notDeliveredReporter } from '../../functions/shared/metrics.ts';
import { TaskLostError } from '../../core/activity.ts';
import { TransientError } from '../../core/errors.ts';

// SDK behaviour of the workflow adapters (aws-sdk-client-mock, no network): version-aware
// deletion with Object Lock refusals reported per key, restore state, SNS attributes, SFN
// error translation. The activity client also runs against the local activity server
// (test/workflows/activity-worker.test.ts).

const s3 = mockClient(S3Client);
const sns = mockClient(SNSClient);
const sfn = mockClient(SFNClient);
// The clients' classes stay mocked until restored: later test files in this process use the real ones.
afterAll(() => { s3.restore(); sns.restore(); sfn.restore(); });

afterEach(() => {
  s3.reset();
  sns.reset();
  sfn.reset();
});

const s3Error = (name: string, status: number) => new S3ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message: `${name} happened` });

describe('S3ObjectDeleter', () => {
  it('deletes every version of each key by id; Object Lock refusals are retained, other errors failed', async () => {
    s3.on(ListObjectVersionsCommand, { Prefix: 'recordings/s/a.tar' }).resolves({
      Versions: [
        { Key: 'recordings/s/a.tar', VersionId: 'v2' },
        { Key: 'recordings/s/a.tar', VersionId: 'v1' },
        { Key: 'recordings/s/a.tar.old', VersionId: 'x' },
      ],
      DeleteMarkers: [{ Key: 'recordings/s/a.tar', VersionId: 'dm' }],
    });
    s3.on(ListObjectVersionsCommand, { Prefix: 'recordings/s/b.tar' }).resolves({ Versions: [{ Key: 'recordings/s/b.tar', VersionId: 'vb' }] });
    s3.on(ListObjectVersionsCommand, { Prefix: 'recordings/s/c.tar' }).resolves({ Versions: [{ Key: 'recordings/s/c.tar', VersionId: 'vc' }] });
    s3.on(ListObjectVersionsCommand, { Prefix: 'recordings/s/gone.tar' }).resolves({});
    s3.on(DeleteObjectsCommand).resolves({
      Errors: [
        { Key: 'recordings/s/b.tar', VersionId: 'vb', Code: 'AccessDenied', Message: 'Access Denied because object protected by object lock.' },
        { Key: 'recordings/s/c.tar', VersionId: 'vc', Code: 'InternalError', Message: 'try again' },
      ],
    });
    const out = await new S3ObjectDeleter(new S3Client({ region: 'eu-west-1' }), 'bucket').deleteObjects(['recordings/s/a.tar', 'recordings/s/b.tar', 'recordings/s/c.tar', 'recordings/s/gone.tar']);
    const sent = s3.commandCalls(DeleteObjectsCommand)[0]!.args[0].input;
    expect(sent.Delete?.Objects).toEqual([
      { Key: 'recordings/s/a.tar', VersionId: 'v2' },
      { Key: 'recordings/s/a.tar', VersionId: 'v1' },
      { Key: 'recordings/s/a.tar', VersionId: 'dm' },
      { Key: 'recordings/s/b.tar', VersionId: 'vb' },
      { Key: 'recordings/s/c.tar', VersionId: 'vc' },
    ]);
    expect((sent as { BypassGovernanceRetention?: boolean }).BypassGovernanceRetention).toBeUndefined();
    expect(out.deleted).toEqual(['recordings/s/a.tar', 'recordings/s/gone.tar']);
    expect(out.retained).toEqual([{ key: 'recordings/s/b.tar', reason: 'AccessDenied: Access Denied because object protected by object lock.' }]);
    expect(out.failed).toEqual([{ key: 'recordings/s/c.tar', reason: 'InternalError: try again' }]);
  });

  it('deletes every version of a key listed over several pages (1,500 versions), and stops listing at a key it is a prefix of', async () => {
    const key = 'recordings/s/a.tar';
    const versions = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ Key: key, VersionId: `v${from + i}` }));
    s3.on(ListObjectVersionsCommand)
      .resolvesOnce({ Versions: versions(0, 999), DeleteMarkers: [{ Key: key, VersionId: 'dm' }], IsTruncated: true, NextKeyMarker: key, NextVersionIdMarker: 'v998' })
      .resolvesOnce({ Versions: [...versions(999, 500), { Key: `${key}.old`, VersionId: 'x' }], IsTruncated: true, NextKeyMarker: `${key}.old`, NextVersionIdMarker: 'x' })
      .resolves({ Versions: [{ Key: `${key}.old`, VersionId: 'y' }] });
    s3.on(DeleteObjectsCommand).resolves({});
    const out = await new S3ObjectDeleter(new S3Client({ region: 'eu-west-1' }), 'bucket').deleteObjects([key]);
    const lists = s3.commandCalls(ListObjectVersionsCommand).map((c) => c.args[0].input);
    expect(lists).toHaveLength(2);
    expect(lists[1]).toMatchObject({ Prefix: key, KeyMarker: key, VersionIdMarker: 'v998' });
    const sent = s3.commandCalls(DeleteObjectsCommand).flatMap((c) => c.args[0].input.Delete?.Objects ?? []);
    expect(s3.commandCalls(DeleteObjectsCommand).map((c) => c.args[0].input.Delete?.Objects?.length)).toEqual([1000, 500]);
    expect(new Set(sent.map((o) => o.VersionId)).size).toBe(1500);
    expect(sent.every((o) => o.Key === key)).toBe(true);
    expect(out.deleted).toEqual([key]);
  });

  it('a throttled ListObjectVersions fails the whole call as a TransientError, nothing deleted', async () => {
    s3.on(ListObjectVersionsCommand).rejects(s3Error('SlowDown', 503));
    await expect(new S3ObjectDeleter(new S3Client({ region: 'eu-west-1' }), 'bucket').deleteObjects(['recordings/s/a.tar'])).rejects.toBeInstanceOf(TransientError);
    expect(s3.commandCalls(DeleteObjectsCommand)).toHaveLength(0);
  });

  it('deletes by key without versions, in chunks of 1000; a failed call is a TransientError', async () => {
    s3.on(DeleteObjectsCommand).resolves({});
    const keys = Array.from({ length: 1500 }, (_, i) => `logs/s/x/${i}`);
    const out = await new S3ObjectDeleter(new S3Client({ region: 'eu-west-1' }), 'bucket', { versions: false }).deleteObjects(keys);
    expect(out.deleted).toHaveLength(1500);
    expect(s3.commandCalls(DeleteObjectsCommand).map((c) => c.args[0].input.Delete?.Objects?.length)).toEqual([1000, 500]);
    expect(s3.commandCalls(ListObjectVersionsCommand)).toHaveLength(0);
    s3.on(DeleteObjectsCommand).rejects(s3Error('SlowDown', 503));
    await expect(new S3ObjectDeleter(new S3Client({ region: 'eu-west-1' }), 'bucket', { versions: false }).deleteObjects(['k'])).rejects.toBeInstanceOf(TransientError);
  });
});

describe('S3ArchiveStore', () => {
  it('reads storage class and restore state; a restore already running is success', async () => {
    expect(parseRestoreHeader('ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"')).toEqual({ ongoing: false, expiresAt: '2012-12-21T00:00:00.000Z' });
    expect(parseRestoreHeader('ongoing-request="true"')).toEqual({ ongoing: true });
    s3.on(HeadObjectCommand, { Key: 'deep' }).resolves({ StorageClass: 'DEEP_ARCHIVE', Restore: 'ongoing-request="true"' });
    s3.on(HeadObjectCommand, { Key: 'std' }).resolves({});
    s3.on(HeadObjectCommand, { Key: 'none' }).rejects(s3Error('NotFound', 404));
    const store = new S3ArchiveStore(new S3Client({ region: 'eu-west-1' }), 'bucket');
    expect(await store.archiveStatus('deep')).toEqual({ storageClass: 'DEEP_ARCHIVE', restore: { ongoing: true } });
    expect(await store.archiveStatus('std')).toEqual({ storageClass: 'STANDARD' });
    expect(await store.archiveStatus('none')).toBeUndefined();
    s3.on(RestoreObjectCommand).rejectsOnce(s3Error('RestoreAlreadyInProgress', 409)).resolves({});
    expect(await store.requestRestore('deep', 7, 'Bulk')).toBe('in-progress');
    expect(await store.requestRestore('deep', 7, 'Bulk')).toBe('started');
    expect(s3.commandCalls(RestoreObjectCommand)[1]!.args[0].input.RestoreRequest).toEqual({ Days: 7, GlacierJobParameters: { Tier: 'Bulk' } });
  });
});

describe('SnsNotifier', () => {
  it('publishes subject, message and routing attributes', async () => {
    sns.on(PublishCommand).resolves({ MessageId: '1' });
    const notifier = new SnsNotifier(new SNSClient({ region: 'eu-west-1' }), 'arn:aws:sns:eu-west-1:1:t', () => undefined);
    await notifier.notify({ severity: 'critical', site: 'site-a', subject: 'Ferry — ' + 'x'.repeat(150), message: 'm' });
    expect(sns.commandCalls(PublishCommand)[0]!.args[0].input).toMatchObject({
      TopicArn: 'arn:aws:sns:eu-west-1:1:t',
      Message: 'm',
      MessageAttributes: { site: { DataType: 'String', StringValue: 'site-a' }, severity: { DataType: 'String', StringValue: 'critical' } },
    });
    expect(sns.commandCalls(PublishCommand)[0]!.args[0].input.Subject?.length).toBeLessThanOrEqual(100);
  });

  it("publishes an alert's kind (purge-missed) as the kind attribute, and none for an alert without one", async () => {
    sns.on(PublishCommand).resolves({ MessageId: '1' });
    const notifier = new SnsNotifier(new SNSClient({ region: 'eu-west-1' }), 'arn:aws:sns:eu-west-1:1:t', () => undefined);
    await notifier.notify({ severity: 'critical', site: 'site-a', kind: 'purge-missed', subject: 'Ferry site-a: scheduled purge did not run', message: 'm' });
    await notifier.notify({ severity: 'critical', site: 'site-a', subject: 'Ferry site-a: agent silent', message: 'm' });
    const [missed, silent] = sns.commandCalls(PublishCommand).map((c) => c.args[0].input.MessageAttributes);
    expect(missed).toEqual({ site: { DataType: 'String', StringValue: 'site-a' }, severity: { DataType: 'String', StringValue: 'critical' }, kind: { DataType: 'String', StringValue: 'purge-missed' } });
    expect(Object.keys(silent!)).toEqual(['site', 'severity']);
  });

  it('a failed publish is reported to onError (log and metric) and thrown as NotDeliveredError with the SDK error as cause', async () => {
    const refused = Object.assign(new Error('User is not authorized to perform: SNS:Publish'), { name: 'AuthorizationErrorException' });
    sns.on(PublishCommand).rejects(refused);
    const reported: Array<{ message: string; error: unknown; site: string }> = [];
    const notifier = new SnsNotifier(new SNSClient({ region: 'eu-west-1' }), 'arn:aws:sns:eu-west-1:1:t', (message, error, alert) => reported.push({ message, error, site: alert.site }));
    const error = await notifier.notify({ severity: 'critical', site: 'site-a', subject: 'Ferry site-a: agent silent', message: 'm' }).then(() => undefined, (e: unknown) => e as Error);
    expect(error?.name).toBe('NotDeliveredError');
    expect(error?.message).toContain('not authorized to perform: SNS:Publish');
    expect(error?.cause).toBe(refused);
    expect(reported).toEqual([{ message: 'alert not delivered to arn:aws:sns:eu-west-1:1:t: Ferry site-a: agent silent', error: refused, site: 'site-a' }]);
  });

  it('the functions report a failed publish as an error log line and an AlertsNotDelivered count for the site', () => {
    const lines: Array<[string, string, Record<string, unknown>]> = [];
    const counts: Array<[string, string | undefined]> = [];
    notDeliveredReporter((level, message, detail) => lines.push([level, message, detail]), (name, site) => counts.push([name, site]))('alert not delivered to t: s', new Error('down'), { site: 'site-a', subject: 's' });
    expect(lines).toEqual([['error', 'alert not delivered to t: s', { site: 'site-a', subject: 's', error: 'Error: down' }]]);
    expect(counts).toEqual([['AlertsNotDelivered', 'site-a']]);
  });
});

describe('SfnActivityClient', () => {
  const sfnError = (name: string, status: number) => new SFNServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message: name });

  it('translates task-over errors to TaskLostError, throttling to TransientError, an empty poll to undefined', async () => {
    const client = new SfnActivityClient(new SFNClient({ region: 'eu-west-1' }), 'arn:act');
    sfn.on(GetActivityTaskCommand).resolvesOnce({}).resolves({ taskToken: 't', input: '{"a":1}' });
    expect(await client.poll('w')).toBeUndefined();
    expect(await client.poll('w')).toEqual({ taskToken: 't', input: '{"a":1}' });
    sfn.on(SendTaskHeartbeatCommand).rejectsOnce(sfnError('TaskTimedOut', 400)).rejects(sfnError('ThrottlingException', 400));
    await expect(client.heartbeat('t')).rejects.toBeInstanceOf(TaskLostError);
    await expect(client.heartbeat('t')).rejects.toBeInstanceOf(TransientError);
  });
});
