// The HTTP/1.1 response framing `direct-get.ts` needs: the head (status, headers, how the body
// is delimited) and the chunked transfer coding (an error body may come so). Strict where it
// matters: a head that is too long or malformed is an error, never a guess.

const HEAD_LIMIT = 64 * 1024;
const CRLF2 = Buffer.from('\r\n\r\n');

export type BodyFraming = 'length' | 'chunked' | 'close';

/** A response head, parsed once its blank line has come. */
export class ResponseHead {
  status = 0;
  reason = '';
  headers: Record<string, string> = {};
  private version = '';
  private bytes = Buffer.alloc(0);

  /** Adds bytes read; once the head is whole, returns the bytes after it (the body's first). */
  add(chunk: Uint8Array): Uint8Array | undefined {
    const before = this.bytes.length;
    this.bytes = Buffer.concat([this.bytes, chunk]);
    const end = this.bytes.indexOf(CRLF2, Math.max(0, before - 3));
    if (end < 0) {
      if (this.bytes.length > HEAD_LIMIT) throw new Error(`a response head longer than ${HEAD_LIMIT} bytes`);
      return undefined;
    }
    this.parse(this.bytes.subarray(0, end).toString('latin1'));
    return chunk.subarray(end + 4 - before);
  }

  private parse(text: string): void {
    const [status, ...lines] = text.split('\r\n');
    const m = /^HTTP\/(1\.[01]) (\d{3})(?: (.*))?$/.exec(status ?? '');
    if (!m) throw new Error(`not an HTTP/1.x status line: ${JSON.stringify(status?.slice(0, 80))}`);
    this.version = m[1]!;
    this.status = Number(m[2]);
    this.reason = m[3] ?? '';
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error(`a malformed response header line: ${JSON.stringify(line.slice(0, 80))}`);
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      this.headers[name] = name in this.headers ? `${this.headers[name]}, ${value}` : value;
    }
  }

  /** The connection may carry another request after this response. */
  get keepAlive(): boolean {
    const connection = (this.headers.connection ?? '').toLowerCase();
    return this.version === '1.1' ? !connection.includes('close') : connection.includes('keep-alive');
  }

  /** How the body ends: after a length, after its last chunk, or when the server closes. */
  framing(): { kind: 'length'; length: number } | { kind: 'chunked' | 'close' } {
    if (this.status === 204 || this.status === 304) return { kind: 'length', length: 0 };
    if (/\bchunked\b/i.test(this.headers['transfer-encoding'] ?? '')) return { kind: 'chunked' };
    const length = this.headers['content-length'];
    if (length === undefined) return { kind: 'close' };
    if (!/^\d{1,15}$/.test(length)) throw new Error(`a malformed content-length: ${JSON.stringify(length)}`);
    return { kind: 'length', length: Number(length) };
  }
}

/** Decodes the chunked transfer coding; `add` returns where in its bytes the body ended, once it has. */
export class ChunkedDecoder {
  private state: 'size' | 'data' | 'data-end' | 'trailer' = 'size';
  private line = '';
  private left = 0;

  add(bytes: Uint8Array, emit: (piece: Uint8Array) => void): number | undefined {
    let i = 0;
    while (i < bytes.length) {
      if (this.state === 'data') {
        const n = Math.min(this.left, bytes.length - i);
        emit(bytes.subarray(i, i + n));
        i += n;
        this.left -= n;
        if (this.left === 0) this.state = 'data-end';
        continue;
      }
      const c = bytes[i++]!;
      if (c !== 0x0a) {
        if (c !== 0x0d) this.line += String.fromCharCode(c);
        if (this.line.length > 1024) throw new Error('a chunk line longer than 1024 bytes');
        continue;
      }
      const line = this.line;
      this.line = '';
      if (this.state === 'data-end') {
        if (line !== '') throw new Error('a chunk not followed by CRLF');
        this.state = 'size';
      } else if (this.state === 'size') {
        const m = /^([0-9a-fA-F]{1,12})(;.*)?$/.exec(line);
        if (!m) throw new Error(`a malformed chunk size: ${JSON.stringify(line.slice(0, 40))}`);
        this.left = parseInt(m[1]!, 16);
        this.state = this.left === 0 ? 'trailer' : 'data';
      } else if (line === '') return i;
    }
    return undefined;
  }
}
