import { once } from 'node:events';
import { LossLog } from '../agent/state/loss-log.ts';

/**
 * `agent status --losses`: `{ site, losses: [...] }` with every loss ever recorded, the archived
 * ones first, written a piece at a time and waiting for a slow reader (years of a recorder's
 * evictions are too many to hold at once: a pipe to `less` or `jq` must not queue them all).
 */
export async function writeEveryLoss(config: { site: string; state: string }, out: NodeJS.WritableStream = process.stdout): Promise<void> {
  const log = new LossLog(config.state, { readOnly: true });
  const indent = (text: string) => text.replace(/\n/g, '\n    ');
  let piece = `{\n  "site": ${JSON.stringify(config.site)},\n  "losses": [`;
  let first = true;
  for (const loss of log.everything()) {
    piece += `${first ? '' : ','}\n    ${indent(JSON.stringify(loss, null, 2))}`;
    first = false;
    if (piece.length >= 1 << 16) {
      if (!out.write(piece)) await once(out, 'drain');
      piece = '';
    }
  }
  out.write(`${piece}${first ? ']\n}\n' : '\n  ]\n}\n'}`);
}
