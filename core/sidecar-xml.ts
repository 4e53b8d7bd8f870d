// A one-pass reader for the plain XML a recorder writes as a sidecar: an optional XML
// declaration, elements, attributes in quotes, text. It checks that the document is well formed
// and builds the same object fast-xml-parser builds with Ferry's options (core/metadata.ts:
// attributes as `@_name`, text as a string or `#text`, repeated elements as arrays, values kept
// as trimmed strings), in a single pass instead of a validation pass and a parsing pass.
//
// The five predefined entity references (`&amp;` `&lt;` `&gt;` `&quot;` `&apos;`: an agent named
// O'Neill, a company Smith & Co) are read in text and attribute values as the parser reads them.
// Anything outside that plain subset — any other entity or character reference, a comment,
// CDATA, a DOCTYPE, a processing instruction other than the leading declaration, mixed text and
// elements, a name or layout it does not know — returns undefined, and the caller reads the
// document the general way (validator, then parser), which also names what is wrong with a
// document that is not well formed. So this reader never accepts what the validator refuses,
// and never has to explain a refusal.

type Node = string | { [key: string]: unknown };
const NAME = /[A-Za-z_][A-Za-z0-9_.:-]*/y;
const SPACE = /[ \t\r\n]*/y;
/** Names that would touch an object's prototype: the general path (with its own guard) decides. */
const RESERVED = new Set(['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf']);
const MAX_DEPTH = 64;
const PREDEFINED: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
/** A predefined entity reference, or an `&` that starts anything else (no name: not read here). */
const REFERENCE = /&(?:(amp|lt|gt|quot|apos);)?/g;

/** Text or an attribute value with its predefined references read; undefined when another `&` is there. */
function unescaped(raw: string): string | undefined {
  if (!raw.includes('&')) return raw;
  let other = false;
  const text = raw.replace(REFERENCE, (_ref, name: string | undefined) => (name === undefined ? ((other = true), '') : (PREDEFINED[name] as string)));
  return other ? undefined : text;
}

class Reader {
  at = 0;
  constructor(readonly text: string) {}

  name(): string | undefined {
    NAME.lastIndex = this.at;
    const m = NAME.exec(this.text);
    if (!m || RESERVED.has(m[0])) return undefined;
    this.at = NAME.lastIndex;
    return m[0];
  }

  space(): boolean {
    SPACE.lastIndex = this.at;
    SPACE.exec(this.text);
    const moved = SPACE.lastIndex > this.at;
    this.at = SPACE.lastIndex;
    return moved;
  }

  /** `name="value"` pairs up to (not including) `end`; undefined when anything else is there. */
  attributes(end: RegExp): Record<string, string> | undefined {
    const attrs: Record<string, string> = {};
    for (;;) {
      const spaced = this.space();
      end.lastIndex = this.at;
      if (end.test(this.text)) return attrs;
      if (!spaced) return undefined;
      const name = this.name();
      if (name === undefined || this.text[this.at] !== '=') return undefined;
      const quote = this.text[this.at + 1];
      if (quote !== '"' && quote !== "'") return undefined;
      const close = this.text.indexOf(quote, this.at + 2);
      if (close < 0) return undefined;
      const value = this.text.slice(this.at + 2, close);
      // A value the parser would trim or the validator refuse: the general path decides.
      if (value.includes('<') || value.trim() !== value) return undefined;
      const key = `@_${name}`;
      const read = unescaped(value);
      if (read === undefined || Object.hasOwn(attrs, key)) return undefined;
      attrs[key] = read;
      this.at = close + 1;
    }
  }

  element(depth: number): Node | undefined {
    if (depth > MAX_DEPTH || this.text[this.at] !== '<') return undefined;
    this.at++;
    const tag = this.name();
    if (tag === undefined) return undefined;
    const attrs = this.attributes(/\/?>/y);
    if (!attrs) return undefined;
    const hasAttrs = Object.keys(attrs).length > 0;
    if (this.text.startsWith('/>', this.at)) {
      this.at += 2;
      return hasAttrs ? attrs : '';
    }
    this.at++;
    const children: Record<string, unknown> = {};
    let text = '';
    let hasChildren = false;
    for (;;) {
      const lt = this.text.indexOf('<', this.at);
      if (lt < 0) return undefined;
      const segment = this.text.slice(this.at, lt);
      if (segment.includes('>')) return undefined;
      text += segment;
      this.at = lt;
      if (this.text.startsWith('</', lt)) {
        const end = `</${tag}>`;
        if (!this.text.startsWith(end, lt)) return undefined;
        this.at = lt + end.length;
        break;
      }
      const child = this.peekName();
      if (child === undefined) return undefined;
      const value = this.element(depth + 1);
      if (value === undefined) return undefined;
      hasChildren = true;
      const prior = children[child];
      children[child] = prior === undefined ? value : Array.isArray(prior) ? [...(prior as unknown[]), value] : [prior, value];
    }
    const trimmed = unescaped(text.trim());
    if (trimmed === undefined) return undefined;
    if (hasChildren) return trimmed === '' ? { ...children, ...attrs } : undefined;
    if (!hasAttrs) return trimmed;
    return trimmed === '' ? attrs : { ...attrs, '#text': trimmed };
  }

  /** The name of the element that starts here (after its `<`), without moving. */
  peekName(): string | undefined {
    const at = this.at;
    this.at++;
    const name = this.name();
    this.at = at;
    return name;
  }
}

/**
 * The document as fast-xml-parser reads it with Ferry's sidecar options, when it is plain,
 * well-formed XML; undefined otherwise (read it the general way).
 */
export function readPlainXml(text: string): Record<string, unknown> | undefined {
  if (text.includes('<!')) return undefined;
  const r = new Reader(text);
  const doc: Record<string, unknown> = {};
  if (text.startsWith('<?xml')) {
    r.at = 5;
    const attrs = r.attributes(/\?>/y);
    if (!attrs || Object.keys(attrs).length === 0) return undefined;
    r.at += 2;
    doc['?xml'] = attrs;
  }
  r.space();
  if (text.startsWith('<?', r.at)) return undefined;
  const root = r.peekName();
  if (root === undefined) return undefined;
  const value = r.element(1);
  if (value === undefined) return undefined;
  r.space();
  if (r.at !== text.length) return undefined;
  doc[root] = value;
  return doc;
}
