import { describe, it, expect } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAlertNotifier } from '../../agent/alerts.ts';
import { createLogger } from '../../agent/log.ts';
import type { Alert } from '../../core/ports.ts';
import { NotDeliveredError } from '../../core/errors.ts';
import { LossLog } from '../../agent/state/loss-log.ts';
import { LossReporter } from '../../agent/state/loss-reporter.ts';
import { AlertBook } from '../../agent/state/alert-book.ts';

const alert: Alert = { severity: 'critical', site: 'site-a', subject: '3 recording(s) lost before shipping', message: 'Batch 000001 …', details: { batch: '000001' } };

describe('alert hooks', () => {
  it('runs the command with the alert as JSON on stdin and POSTs it to the webhook', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-alert-'));
    const out = join(dir, 'alert.json');
    const received: unknown[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push({ method: req.method, type: req.headers['content-type'], body: JSON.parse(body) });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    const lines: string[] = [];
    const notifier = createAlertNotifier({ command: `cat > '${out}'`, webhook: url }, createLogger({ json: true, write: (l) => lines.push(l) }));
    await notifier.notify(alert);
    server.close();
    const payload = { ...alert, title: 'Ferry site-a: 3 recording(s) lost before shipping' };
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(payload);
    expect(received).toEqual([{ method: 'POST', type: 'application/json', body: payload }]);
    expect(lines.some((l) => JSON.parse(l).msg === `alert: ${alert.subject}`)).toBe(true);
  });

  it('rejects with NotDeliveredError when no hook took the alert, logging each failure with the command and the webhook origin (never its path)', async () => {
    // A port nothing listens on (one just closed).
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const lines: string[] = [];
    const notifier = createAlertNotifier({ command: 'echo broken >&2; exit 3', webhook: `http://127.0.0.1:${port}/hooks/SECRET-TOKEN` }, createLogger({ json: true, write: (l) => lines.push(l) }));
    await expect(notifier.notify(alert)).rejects.toBeInstanceOf(NotDeliveredError);
    const errors = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'alert delivery failed');
    expect(errors).toHaveLength(2);
    expect(errors.map((e) => e.error).join('\n')).toMatch(/alert command "echo broken >&2; exit 3" exited 3: broken/);
    expect(errors.map((e) => e.error).join('\n')).toMatch(new RegExp(`alert webhook at http://127\\.0\\.0\\.1:${port} could not be reached \\(ECONNREFUSED\\)`));
    expect(lines.join('\n')).not.toContain('SECRET-TOKEN');
  });

  it('counts an alert delivered when one of its hooks took it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-alert-'));
    const notifier = createAlertNotifier({ command: `cat > '${join(dir, 'a.json')}'`, webhook: 'http://127.0.0.1:9/nowhere' }, createLogger({ json: true, write: () => undefined }));
    await expect(notifier.notify(alert)).resolves.toBeUndefined();
    expect(JSON.parse(readFileSync(join(dir, 'a.json'), 'utf8'))).toMatchObject(alert);
  });

  it("gives a hook a title naming the site before the subject, and the alert's kind from its key", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-alert-'));
    const out = join(dir, 'a.json');
    const notifier = createAlertNotifier({ command: `cat > '${out}'` }, createLogger({ json: true, write: () => undefined }));
    await notifier.notify({ severity: 'critical', site: 'leeds-cc', key: 'binlog-gap:binlogs:4-4', subject: 'binlog gap in binlogs: segment 4 missing', message: '…' });
    expect(JSON.parse(readFileSync(out, 'utf8'))).toMatchObject({ title: 'Ferry leeds-cc: binlog gap in binlogs: segment 4 missing', kind: 'binlog-gap', subject: 'binlog gap in binlogs: segment 4 missing' });
    // A subject that already names the site (as the cloud's do) is not named twice; a kind given is kept.
    await notifier.notify({ severity: 'info', site: 'leeds-cc', key: 'purge-missed:leeds-cc', kind: 'purge-missed', subject: 'Ferry leeds-cc: resolved - a scheduled purge ran', message: '…' });
    expect(JSON.parse(readFileSync(out, 'utf8'))).toMatchObject({ title: 'Ferry leeds-cc: resolved - a scheduled purge ran', kind: 'purge-missed' });
  });
});

describe('alerts no hook took are sent again on the next pass', () => {
  const quiet = createLogger({ json: true, write: () => undefined });
  const failing = createAlertNotifier({ command: 'exit 127' }, quiet);
  const recording = (dir: string) => createAlertNotifier({ command: `cat >> '${join(dir, 'sent.jsonl')}'; echo >> '${join(dir, 'sent.jsonl')}'` }, quiet);
  const sent = (dir: string) => (existsSync(join(dir, 'sent.jsonl')) ? readFileSync(join(dir, 'sent.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Alert) : []);

  it('a loss whose alert reached no hook stays unalerted, in the state directory, until a later pass delivers it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-loss-alert-'));
    const losses = new LossLog(join(dir, 'state'));
    const lost = await new LossReporter({ losses, notifier: failing, log: quiet, site: 'site-a' }).report({ source: 'rec', batch: '000004', kind: 'recordings', files: [{ name: 'a.wav', size: 10, mtimeMs: 1, path: '/rec/000004/a.wav' }], reason: 'deleted before it was shipped', at: '2026-03-01T00:00:00.000Z' });
    expect(lost).toBe(1);
    losses.close();
    // The next run (cron): a new process reads the state directory.
    const again = new LossLog(join(dir, 'state'));
    expect(again.unalerted().map((e) => e.batch)).toEqual(['000004']);
    await new LossReporter({ losses: again, notifier: recording(dir), log: quiet, site: 'site-a' }).deliverPending();
    expect(sent(dir).map((a) => a.subject)).toEqual(['1 recording(s) lost before shipping']);
    expect(again.unalerted()).toEqual([]);
    again.close();
  });

  it('a condition whose alert reached no hook is kept open as not delivered (agent status shows it), and the next pass raises it again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-alert-book-'));
    const now = () => new Date('2026-03-01T00:00:00Z');
    const raise = (book: AlertBook) => book.raise('gap:binlog', { severity: 'critical', site: 'site-a', subject: 'binlog gap in binlog: segment 3 missing', message: '…' });
    expect(await raise(new AlertBook(dir, { notifier: failing, now, repeatHours: 24 }))).toBe('undelivered');
    expect(AlertBook.read(dir)).toEqual([expect.objectContaining({ key: 'gap:binlog', sent: 0, raisedAt: '2026-03-01T00:00:00.000Z', undelivered: expect.any(String) })]);
    expect(await raise(new AlertBook(dir, { notifier: recording(dir), now, repeatHours: 24 }))).toBe('raised');
    expect(AlertBook.read(dir)).toEqual([expect.objectContaining({ key: 'gap:binlog', sent: 1 })]);
    expect(AlertBook.read(dir)[0]!.undelivered).toBeUndefined();
    // Its resolution no hook took leaves it open, to be resolved again.
    expect(await new AlertBook(dir, { notifier: failing, now, repeatHours: 24 }).resolve('gap:binlog', 'site-a', 'closed')).toBe(false);
    expect(AlertBook.read(dir).map((a) => a.key)).toEqual(['gap:binlog']);
  });

  it('a condition over before any hook took its alert is closed without a resolved message', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-alert-book-'));
    const now = () => new Date('2026-03-01T00:00:00Z');
    await new AlertBook(dir, { notifier: failing, now, repeatHours: 24 }).raise('gap:binlog', { severity: 'critical', site: 'site-a', subject: 'binlog gap', message: '…' });
    const sent: string[] = [];
    expect(await new AlertBook(dir, { notifier: { notify: async (a) => void sent.push(a.subject) }, now, repeatHours: 24 }).resolve('gap:binlog', 'site-a', 'closed')).toBe(true);
    expect(sent).toEqual([]);
    expect(AlertBook.read(dir)).toEqual([]);
  });
});
