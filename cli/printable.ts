import { shellQuote } from '../core/restore-commands.ts';
import { CONTROLS, NAMED } from '../core/printable.ts';

// What a terminal shows of a string that came from outside (core/printable.ts), and a word to
// paste into a shell that is also safe to print.
export { printable } from '../core/printable.ts';

/** CONTROLS without the global flag: a test of a whole string, with no lastIndex carried between calls. */
const HAS_CONTROL = new RegExp(CONTROLS.source);

/**
 * A control character as bash's `$'…'` quoting writes it (`\n`, `\e`, `\xHH`): one above 0x7f as
 * its UTF-8 bytes, each `\xHH`, since `\x85` is the lone byte 0x85 (not the name's C2 85) and
 * `\u202e` is left as those six characters by a bash in the C locale (cron, a service's shell).
 */
function ansiC(c: string): string {
  const bytes = c.charCodeAt(0) <= 0x7f ? [c.charCodeAt(0)] : [...Buffer.from(c, 'utf8')];
  return NAMED[c] ?? bytes.map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('');
}

/**
 * A word to paste into a shell that is also safe to print: shellQuote's form when the value holds
 * no control character, else bash's `$'…'` form with each one escaped, so the line shows one
 * line and the pasted word still names the very path (a newline in a name stays a newline).
 */
export function shellWord(value: string): string {
  if (!HAS_CONTROL.test(value)) return shellQuote(value);
  return `$'${value.replace(/[\\']/g, (c) => `\\${c}`).replace(CONTROLS, ansiC)}'`;
}
