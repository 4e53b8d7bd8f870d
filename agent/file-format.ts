// What kind of file a backup is, from its first bytes: the formats the vendors' tools write
// (a SQL Server `.bak` is Microsoft Tape Format, an LCSCmd export is XML, a dump is text with its
// tool's header) and the usual containers. A rotated backup whose earlier version was one of these
// and whose new version is none of them was overwritten by something else: ransomware, a disk
// error, a job that wrote garbage. Shipping it as the newest full would let retention delete the
// good ones, so the agent holds it back and says so (agent/ship-artefact.ts).

const MAGIC: { format: string; at: number; bytes: Buffer }[] = [
  { format: 'gzip', at: 0, bytes: Buffer.from([0x1f, 0x8b, 0x08]) },
  { format: 'mtf', at: 0, bytes: Buffer.from('TAPE', 'latin1') },
  { format: 'zip', at: 0, bytes: Buffer.from([0x50, 0x4b, 0x03, 0x04]) },
  { format: 'xz', at: 0, bytes: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) },
  { format: 'zstd', at: 0, bytes: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]) },
  { format: 'bzip2', at: 0, bytes: Buffer.from('BZh', 'latin1') },
  { format: '7z', at: 0, bytes: Buffer.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]) },
  { format: 'sqlite', at: 0, bytes: Buffer.from('SQLite format 3\0', 'latin1') },
  { format: 'tar', at: 257, bytes: Buffer.from('ustar', 'latin1') },
];

/** The first bytes formatOf needs. */
export const FORMAT_HEAD_BYTES = 512;

/**
 * The format the first bytes of a file show, or undefined when they show none Ferry knows. A
 * text dump is `dump:{tool}` (its tool's header, read by the caller), other text `xml` or `text`.
 */
export function formatOf(head: Buffer, dumpTool?: string): string | undefined {
  if (dumpTool) return `dump:${dumpTool}`;
  for (const m of MAGIC) if (head.length >= m.at + m.bytes.length && head.subarray(m.at, m.at + m.bytes.length).equals(m.bytes)) return m.format;
  const text = head.subarray(0, FORMAT_HEAD_BYTES);
  if (text.length === 0 || !isText(text)) return undefined;
  const start = text.toString('utf8').replace(/^\uFEFF/, '').trimStart();
  return start.startsWith('<') ? 'xml' : 'text';
}

/**
 * Text in any 8-bit encoding (UTF-8, Latin-1, Windows-1252: an export's own prolog may name any):
 * no byte below 0x20 but tab, CR, LF and form feed. 512 random bytes hold dozens of them.
 */
function isText(bytes: Buffer): boolean {
  // UTF-16 with a byte-order mark (PowerShell's and some Windows tools' default).
  if (bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))) return true;
  for (const b of bytes) if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0c && b !== 0x0d) return false;
  return true;
}

/**
 * A file name's shape: its digits as one mark. Versions of one backup rotate under names of
 * one shape (`full-20260301.sql`, `full-20260302.sql`; `rostrvm_5_1.rbk`), while files of
 * other kinds beside them (`globals.sql` beside `shop-20260301.sql`) have shapes of their own.
 */
export function nameShape(name: string): string {
  return name.replace(/\d+/g, '#');
}
