// What a person is shown of a string that came from outside: a recorder's sidecar, an officer's
// reason, an agent's heartbeat, in a terminal or a plain-text file. Control characters (C0, DEL,
// C1) and the Unicode controls that reorder or hide text (bidi marks, the Arabic letter mark
// included, overrides and isolates, zero-width joiners) are shown escaped, so `ESC[2K\r` cannot wipe a row and draw another, `\n`
// cannot add a line, and `Bob<U+202E> evil` cannot read "Bob live". web/shared.js escapes the
// same set for the browser pages.
export const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;

export const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\u001b': '\\e' };

/** The value with every control character as its escape (`\n`, `\x07`, `\u{202e}`). */
export function printable(value: unknown): string {
  const text = typeof value === 'string' ? value : String(value);
  return text.replace(CONTROLS, (c) => NAMED[c] ?? (c.charCodeAt(0) <= 0xff ? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}` : `\\u{${c.charCodeAt(0).toString(16)}}`));
}
