import { isUtf8 } from 'node:buffer';
import type { Alert } from '../../core/ports.ts';

// A name read from a site's directory as bytes. The catalogue, the pack format and the journal
// name recordings and backups by UTF-8 strings; a name that is not UTF-8 (an old Windows tool's
// Latin-1 `é`) decoded as UTF-8 becomes U+FFFD, which names no file on disk: looked up, it is
// "gone", and the file was dropped without a word. Such a name is told apart here, shown with
// its bytes, and reported (alerted, never shipped under a wrong name, never called lost).

/** The name as a string, or undefined when its bytes are not UTF-8. */
export function utf8Name(bytes: Buffer): string | undefined {
  return isUtf8(bytes) ? bytes.toString('utf8') : undefined;
}

/** The name for an operator: ASCII as it is, every other byte as \xNN (`caf\xe9.wav`). */
export function shownName(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) out += b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  return out;
}

/** Why such a name is not shipped, and what to do. */
const NOT_UTF8 = 'its name is not valid UTF-8, which the catalogue and the packs need: it is not shipped. Rename it to UTF-8 (e.g. `convmv -f latin1 -t utf-8`) and it ships on the next pass; until then it is neither shipped nor lost';

/** The alert of a name that is not UTF-8 (`shown` with its bytes, `where` its directory), for a recordings or a backup source alike. */
export function badNameAlert(site: string, source: string, shown: string, where: string): Omit<Alert, 'key'> {
  return { severity: 'critical', site, subject: `${source}: name is not valid UTF-8: ${shown}`, message: `${shown} in ${where}: ${NOT_UTF8}. If the site removes or overwrites it first, it is lost.`, details: { source, name: shown } };
}
