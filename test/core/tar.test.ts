import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileHeaders, padding, endOfArchive, BLOCK } from '../../core/tar.ts';

function build(files: [string, Buffer][]): { tar: Buffer; offsets: number[] } {
  const parts: Buffer[] = [];
  const offsets: number[] = [];
  let at = 0;
  for (const [name, body] of files) {
    const h = fileHeaders(name, body.length, new Date('2024-05-06T07:08:09Z'));
    parts.push(h, body, Buffer.alloc(padding(body.length)));
    offsets.push(at + h.length);
    at += h.length + body.length + padding(body.length);
  }
  parts.push(endOfArchive());
  return { tar: Buffer.concat(parts), offsets };
}

describe('tar', () => {
  const files: [string, Buffer][] = [
    ['000001/call 1.wav', Buffer.from('RIFF plain')],
    ['000001/appel-élève "1" #2.wav', Buffer.alloc(1000, 7)],
    [`000002/${'long-name-'.repeat(15)}.wav`, Buffer.alloc(513, 1)],
    ['000002/empty.wav', Buffer.alloc(0)],
  ];

  it('is read by the ordinary tar tool, odd and long names included', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-tar-'));
    const { tar } = build(files);
    writeFileSync(join(dir, 'p.tar'), tar);
    const listed = execFileSync('tar', ['-tf', join(dir, 'p.tar')], { encoding: 'utf8' }).trim().split('\n');
    expect(listed).toEqual(files.map(([n]) => n));
    execFileSync('tar', ['-xf', join(dir, 'p.tar'), '-C', dir]);
    for (const [name, body] of files) expect(readFileSync(join(dir, name)).equals(body)).toBe(true);
    expect(readdirSync(join(dir, '000001')).sort()).toEqual(['appel-élève "1" #2.wav', 'call 1.wav'].sort());
  });

  it('records each body at the offset the headers end', () => {
    const { tar, offsets } = build(files);
    files.forEach(([, body], i) => expect(tar.subarray(offsets[i], (offsets[i] ?? 0) + body.length).equals(body)).toBe(true));
    expect(tar.length % BLOCK).toBe(0);
  });

  it('computes a valid header checksum', () => {
    const h = fileHeaders('a.wav', 5, new Date(0));
    const stored = parseInt(h.subarray(148, 154).toString(), 8);
    const copy = Buffer.from(h);
    copy.fill(0x20, 148, 156);
    expect(copy.reduce((s, b) => s + b, 0)).toBe(stored);
  });

  it('writes every field of every header (pax ones too) as ustar defines it, each with a valid checksum', () => {
    const field = (h: Buffer, at: number, width: number) => h.subarray(at, at + width).toString('latin1').replace(/\0.*$/s, '');
    const mtime = new Date('2024-05-06T07:08:09Z');
    const plain = fileHeaders('000001/call 1.wav', 30_000, mtime, 0o600);
    const pax = fileHeaders('000001/appel-élève.wav', 1000, mtime);
    const headers = [plain, pax.subarray(0, BLOCK), pax.subarray(pax.length - BLOCK)];
    for (const h of headers) {
      expect([field(h, 108, 8), field(h, 116, 8)]).toEqual(['0000000', '0000000']);
      expect(parseInt(field(h, 136, 12), 8)).toBe(mtime.getTime() / 1000);
      expect([field(h, 257, 6), h.subarray(263, 265).toString('latin1'), field(h, 265, 32), field(h, 297, 32)]).toEqual(['ustar', '00', 'ferry', 'ferry']);
      const copy = Buffer.from(h);
      copy.fill(0x20, 148, 156);
      expect(copy.reduce((s, b) => s + b, 0)).toBe(parseInt(field(h, 148, 8), 8));
    }
    expect([field(plain, 0, 100), field(plain, 100, 8), parseInt(field(plain, 124, 12), 8), field(plain, 156, 1)]).toEqual(['000001/call 1.wav', '0000600', 30_000, '0']);
    expect([field(headers[1]!, 0, 100), field(headers[1]!, 156, 1)]).toEqual(['PaxHeaders/000001/appel-_l_ve.wav', 'x']);
    expect([field(headers[2]!, 0, 100), field(headers[2]!, 100, 8), parseInt(field(headers[2]!, 124, 12), 8)]).toEqual(['000001/appel-_l_ve.wav', '0000644', 1000]);
  });

  it('rejects empty names and NUL', () => {
    expect(() => fileHeaders('', 1, new Date())).toThrow(/empty or contains NUL/);
    expect(() => fileHeaders('a\0b', 1, new Date())).toThrow(/NUL/);
  });
});
