import { spawn } from 'node:child_process';
import type { Alert, Notifier } from '../core/ports.ts';
import type { Logger } from './log.ts';
import { NotDeliveredError, fetchFailureCause, messageOf } from '../core/errors.ts';

// Alert hooks configured per site: a command (alert JSON on stdin) and/or a webhook. Every
// alert is also logged. An alert no configured hook took (each failed) is NotDeliveredError:
// the alert book and the loss reporter catch it, never stopping the agent, and keep the alert
// pending, so the next pass (the next cron run) sends it again instead of counting it as sent.

export function createAlertNotifier(config: { command?: string; webhook?: string }, log: Logger): Notifier & { sent: Alert[] } {
  const sent: Alert[] = [];
  return {
    sent,
    async notify(alert) {
      sent.push(alert);
      (alert.severity === 'info' ? log.info : log.warn)(`alert: ${alert.subject}`, { site: alert.site, severity: alert.severity, message: alert.message });
      const deliveries: Promise<void>[] = [];
      const payload = hookPayload(alert);
      if (config.command) deliveries.push(runCommand(config.command, payload));
      if (config.webhook) deliveries.push(postWebhook(config.webhook, payload));
      const failed: string[] = [];
      for (const r of await Promise.allSettled(deliveries)) {
        if (r.status === 'rejected') failed.push(messageOf(r.reason));
      }
      for (const error of failed) log.error('alert delivery failed', { subject: alert.subject, error });
      if (deliveries.length > 0 && failed.length === deliveries.length) throw new NotDeliveredError(`alert "${alert.subject}" reached no hook: ${failed.join('; ')}`);
    },
  };
}

/**
 * What a hook gets: the alert, with `title` naming the site before its subject (`Ferry site-a:
 * binlog gap in binlogs: segment 4 missing`, as the cloud's alerts say it) for a mail or chat hook
 * that shows one line, and `kind` (the first part of its key: `binlog-gap`, `loss`,
 * `ship-failed`…) for a hook that routes by kind.
 */
function hookPayload(alert: Alert): Alert & { title: string } {
  const title = alert.subject.startsWith(`Ferry ${alert.site}:`) ? alert.subject : `Ferry ${alert.site}: ${alert.subject}`;
  const kind = alert.kind ?? alert.key?.split(':')[0];
  return { ...alert, ...(kind ? { kind } : {}), title };
}

function runCommand(command: string, alert: Alert): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, { shell: true, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`alert command ${JSON.stringify(command)} exited ${code}${stderr.trim() ? `: ${stderr.trim().slice(0, 200)}` : ''}`))));
    // A hook that exits without reading its input must not crash the agent (EPIPE).
    child.stdin.on('error', () => undefined);
    child.stdin.end(JSON.stringify(alert));
  });
}

/** The webhook's origin only: its path and query often hold its secret (a chat hook's token). */
function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'the webhook';
  }
}

async function postWebhook(url: string, alert: Alert): Promise<void> {
  const where = originOf(url);
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(alert), signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    throw new Error(`alert webhook at ${where} could not be reached (${fetchFailureCause(error)})`);
  }
  if (!res.ok) throw new Error(`alert webhook at ${where} answered ${res.status}`);
}
