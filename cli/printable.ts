import { shellQuote } from '../core/restore-commands.ts';

// What a terminal shows of a string that came from outside: a recorder's sidecar, an officer's
// reason, an agent's heartbeat. Control characters (C0, DEL, C1) and the Unicode controls that
// reorder or hide text (bidi overrides and isolates, zero-width joiners) are shown escaped, so
// `ESC[2K\r` cannot wipe a row and draw another, and `\n` cannot add one.
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;

/** CONTROLS without the global flag: a test of a whole string, with no lastIndex carried between calls. */
const HAS_CONTROL = new RegExp(CONTROLS.source);

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\u001b': '\\e' };

export function printable(value: unknown): string {
  const text = typeof value === 'string' ? value : String(value);
  return text.replace(CONTROLS, (c) => NAMED[c] ?? (c.charCodeAt(0) <= 0xff ? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}` : `\\u{${c.charCodeAt(0).toString(16)}}`));
}

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
