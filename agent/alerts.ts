import { spawn } from 'node:child_process';
import type { Alert, Notifier } from '../core/ports.ts';
import type { Logger } from './log.ts';

// Alert hooks configured per site: a command (alert JSON on stdin) and/or a webhook. Every
// alert is also logged. Delivery failures are logged and never stop the agent.

export function createAlertNotifier(config: { command?: string; webhook?: string }, log: Logger): Notifier & { sent: Alert[] } {
  const sent: Alert[] = [];
  return {
    sent,
    async notify(alert) {
      sent.push(alert);
      (alert.severity === 'info' ? log.info : log.warn)(`alert: ${alert.subject}`, { site: alert.site, severity: alert.severity, message: alert.message });
      const deliveries: Promise<void>[] = [];
      if (config.command) deliveries.push(runCommand(config.command, alert));
      if (config.webhook) deliveries.push(postWebhook(config.webhook, alert));
      for (const r of await Promise.allSettled(deliveries)) {
        if (r.status === 'rejected') log.error('alert delivery failed', { error: String(r.reason) });
      }
    },
  };
}

function runCommand(command: string, alert: Alert): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, { shell: true, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`alert command exited ${code}: ${stderr.trim().slice(0, 200)}`))));
    // A hook that exits without reading its input must not crash the agent (EPIPE).
    child.stdin.on('error', () => undefined);
    child.stdin.end(JSON.stringify(alert));
  });
}

async function postWebhook(url: string, alert: Alert): Promise<void> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(alert), signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`alert webhook answered ${res.status}`);
}
