import { describe, it, expect } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAlertNotifier } from '../../agent/alerts.ts';
import { createLogger } from '../../agent/log.ts';
import type { Alert } from '../../core/ports.ts';

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
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(alert);
    expect(received).toEqual([{ method: 'POST', type: 'application/json', body: alert }]);
    expect(lines.some((l) => JSON.parse(l).msg === `alert: ${alert.subject}`)).toBe(true);
  });

  it('logs a failing hook and does not throw', async () => {
    const lines: string[] = [];
    const notifier = createAlertNotifier({ command: 'echo broken >&2; exit 3', webhook: 'http://127.0.0.1:9/nowhere' }, createLogger({ json: true, write: (l) => lines.push(l) }));
    await expect(notifier.notify(alert)).resolves.toBeUndefined();
    const errors = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'alert delivery failed');
    expect(errors).toHaveLength(2);
    expect(errors.map((e) => e.error).join()).toMatch(/exited 3: broken/);
  });
});
