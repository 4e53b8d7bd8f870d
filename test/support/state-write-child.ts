// Run in a mount namespace with a tiny tmpfs (test/agent/state-full-disk.test.ts): rewrites one
// state file whole with writeFileAtomic and appends one loss with the LossLog, on a disk with
// less room than either needs, then prints what each did as JSON.
import { LossLog } from '../../agent/state/loss-log.ts';
import { writeFileAtomic } from '../../agent/state/atomic-file.ts';

const [dir, which] = process.argv.slice(2) as [string, 'atomic' | 'loss'];
try {
  if (which === 'atomic') writeFileAtomic(`${dir}/observations.json`, JSON.stringify({ big: 'x'.repeat(64 * 1024) }));
  else {
    const log = new LossLog(dir);
    log.record({ source: 'rec', batch: '000002', kind: 'recordings', files: Array.from({ length: 400 }, (_, i) => ({ name: `call-${i}.wav`, size: 100, mtimeMs: 1000 + i, path: `/rec/000002/call-${i}.wav` })), reason: 'deleted by the recorder before it was shipped', at: '2026-12-05T00:00:00.000Z' });
    log.close();
  }
  process.stdout.write(JSON.stringify({ ok: true }));
} catch (error) {
  process.stdout.write(JSON.stringify({ ok: false, code: (error as NodeJS.ErrnoException).code }));
}
