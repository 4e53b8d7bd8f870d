// Plain POSIX tar (ustar, with pax extended headers when a name or size does not fit),
// so any pack opens with the ordinary `tar` tool. Only headers are built here: the packer
// streams file bodies between them and records each body's offset for ranged replay.

export const BLOCK = 512;
const USTAR_NAME_MAX = 100;
const USTAR_SIZE_MAX = 8 ** 11 - 1; // 11 octal digits

function octal(value: number, width: number): string {
  // width includes the trailing NUL
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

function writeString(buf: Buffer, offset: number, width: number, value: string): void {
  buf.write(value, offset, Math.min(width, Buffer.byteLength(value)), 'utf8');
}

function isPlainAscii(name: string): boolean {
  return /^[\x20-\x7e]*$/.test(name);
}

/**
 * What every header holds whatever the member: uid and gid 0, the checksum field as spaces while
 * the sum is taken, the ustar magic and version, owner and group "ferry"; and the sum of it.
 */
const TEMPLATE = (() => {
  const h = Buffer.alloc(BLOCK, 0);
  writeString(h, 108, 8, octal(0, 8));
  writeString(h, 116, 8, octal(0, 8));
  h.fill(0x20, 148, 156);
  writeString(h, 257, 6, 'ustar\0');
  writeString(h, 263, 2, '00');
  writeString(h, 265, 32, 'ferry');
  writeString(h, 297, 32, 'ferry');
  return h;
})();
const TEMPLATE_SUM = TEMPLATE.reduce((sum, byte) => sum + byte, 0);
/** The fields a member sets (name, mode, size, mtime, typeflag); zero in the template. */
const MEMBER_FIELDS: readonly [number, number][] = [[0, 108], [124, 148], [156, 157]];

function ustarHeader(name: string, size: number, mtimeSec: number, typeflag: string, mode: number): Buffer {
  const h = Buffer.allocUnsafe(BLOCK);
  TEMPLATE.copy(h);
  writeString(h, 0, 100, name);
  writeString(h, 100, 8, octal(mode, 8));
  writeString(h, 124, 12, octal(size, 12));
  writeString(h, 136, 12, octal(Math.max(0, Math.trunc(mtimeSec)), 12));
  writeString(h, 156, 1, typeflag);
  // The checksum: every byte with its own field as spaces (the template's sum) plus the member's.
  let sum = TEMPLATE_SUM;
  for (const [from, to] of MEMBER_FIELDS) for (let i = from; i < to; i++) sum += h[i] as number;
  writeString(h, 148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return h;
}

/** One pax record: "<len> <key>=<value>\n" where len counts the whole record. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLen = Buffer.byteLength(body);
  let len = bodyLen + 1;
  while (String(len).length + bodyLen !== len) len = String(len).length + bodyLen;
  return `${len}${body}`;
}

export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/**
 * Headers to write before a file body: a pax header pair when the name is long or not
 * plain ASCII (spaces are fine, accents are not) or the size exceeds ustar, then the ustar header.
 */
export function fileHeaders(name: string, size: number, mtime: Date, mode = 0o644): Buffer {
  if (name.length === 0 || name.includes('\0')) throw new TypeError(`tar member name ${JSON.stringify(name)} is empty or contains NUL`);
  const mtimeSec = Math.floor(mtime.getTime() / 1000);
  const needsPaxName = !isPlainAscii(name) || Buffer.byteLength(name) > USTAR_NAME_MAX;
  const needsPaxSize = size > USTAR_SIZE_MAX;
  if (!needsPaxName && !needsPaxSize) return ustarHeader(name, size, mtimeSec, '0', mode);

  let records = '';
  if (needsPaxName) records += paxRecord('path', name);
  if (needsPaxSize) records += paxRecord('size', String(size));
  const paxData = Buffer.from(records, 'utf8');
  const fallbackName = asciiFallback(name);
  return Buffer.concat([
    ustarHeader(`PaxHeaders/${fallbackName}`.slice(0, USTAR_NAME_MAX), paxData.length, mtimeSec, 'x', 0o644),
    paxData,
    Buffer.alloc(padding(paxData.length), 0),
    ustarHeader(fallbackName, needsPaxSize ? 0 : size, mtimeSec, '0', mode),
  ]);
}

function asciiFallback(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_');
  return ascii.length > USTAR_NAME_MAX ? ascii.slice(ascii.length - USTAR_NAME_MAX) : ascii;
}

/** End of archive: two zero blocks. */
export function endOfArchive(): Buffer {
  return Buffer.alloc(BLOCK * 2, 0);
}
