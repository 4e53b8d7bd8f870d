// Error catalogue. Names are stable strings: Step Functions `ErrorEquals` and the HTTP
// error middleware match on them. Each class states its name as a literal: the functions are
// bundled minified, where a name read from the class at run time would be a mangled
// one (test/core/error-names.test.ts). Every error carries the cause it wraps.

export type ErrorKind = 'invalid-input' | 'not-found' | 'conflict' | 'gone' | 'range' | 'integrity' | 'transient' | 'fatal';

export class FerryError extends Error {
  override readonly name: string = 'FerryError';
  readonly kind: ErrorKind;
  /** True when the same call may succeed later (network, throttling, 5xx). */
  readonly retryable: boolean;
  constructor(kind: ErrorKind, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.retryable = options?.retryable ?? kind === 'transient';
  }
}

export class InvalidInputError extends FerryError {
  override readonly name: string = 'InvalidInputError';
  /** The request field at fault, when one is (HTTP answers list it in `issues`). */
  readonly field?: string;
  constructor(message: string, options?: { cause?: unknown; field?: string }) {
    super('invalid-input', message, options);
    if (options?.field !== undefined) this.field = options.field;
  }
}

export class NotFoundError extends FerryError {
  override readonly name: string = 'NotFoundError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('not-found', message, options);
  }
}

/** A conditional write lost: the object or item already exists. */
export class AlreadyExistsError extends FerryError {
  override readonly name: string = 'AlreadyExistsError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('conflict', message, options);
  }
}

export class RangeNotSatisfiableError extends FerryError {
  override readonly name: string = 'RangeNotSatisfiableError';
  constructor(
    message: string,
    readonly size: number,
  ) {
    super('range', message);
  }
}

/** What was read back is not what was written: size or checksum differ. */
export class IntegrityError extends FerryError {
  override readonly name: string = 'IntegrityError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('integrity', message, { ...options, retryable: true });
  }
}

export class TransientError extends FerryError {
  override readonly name: string = 'TransientError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('transient', message, options);
  }
}

/** An alert or report could not be handed to its channel (SNS Publish failed): the run must fail so its retry and dead-letter queue see it. */
export class NotDeliveredError extends FerryError {
  override readonly name: string = 'NotDeliveredError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('transient', message, options);
  }
}

/** A source file vanished or changed while it was being read (the recorder evicted it). */
export class SourceChangedError extends FerryError {
  override readonly name: string = 'SourceChangedError';
  constructor(
    message: string,
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super('conflict', message, options);
  }
}

export class ConfigError extends FerryError {
  override readonly name: string = 'ConfigError';
  /**
   * `origin`: the file the problems are in, named in the first line (cron mails and logs show one
   * line first); `lines`: the line of the file each problem stands at, shown after it.
   */
  constructor(
    readonly problems: string[],
    readonly origin?: string,
    readonly lines?: readonly (number | undefined)[],
  ) {
    const shown = problems.map((p, i) => (lines?.[i] === undefined ? p : `${p} (line ${lines[i]})`));
    super('invalid-input', `invalid configuration${origin ? ` in ${origin}` : ''}:\n  ${shown.join('\n  ')}`);
  }
}

export function httpStatusOf(error: unknown): number {
  if (!(error instanceof FerryError)) return 500;
  switch (error.kind) {
    case 'invalid-input':
      return 400;
    case 'not-found':
      return 404;
    case 'conflict':
      return 409;
    case 'gone':
      return 410;
    case 'range':
      return 416;
    case 'transient':
      return 503;
    default:
      return 500;
  }
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Why a `fetch` failed, for an operator: the network error under its "fetch failed" (ECONNREFUSED, ENOTFOUND…). */
export function fetchFailureCause(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? messageOf(error);
}

/** A source file exists but cannot be read (permissions, I/O error); it stays in the backlog. */
export class UnreadableSourceError extends FerryError {
  override readonly name: string = 'UnreadableSourceError';
  constructor(
    message: string,
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super('fatal', message, options);
  }
}

/**
 * The object is in an archive storage class (Deep Archive, Glacier Flexible Retrieval) and must
 * be recalled before it can be read. A conflict with the object's state, not a fault: HTTP 409.
 */
export class ArchivedError extends FerryError {
  override readonly name: string = 'ArchivedError';
  constructor(
    message: string,
    readonly storageClass: string,
    options?: { cause?: unknown },
  ) {
    super('conflict', message, options);
  }
}

/**
 * The call was erased at a data subject's request (core/erasures.ts): it is out of reach from the
 * request on, whether or not the purge has deleted its bytes yet. HTTP 410 Gone, naming the erasure.
 */
export class ErasedError extends FerryError {
  override readonly name: string = 'ErasedError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('gone', message, options);
  }
}

/** What was asked would destroy a call under legal hold (an erasure): refused naming the hold. HTTP 409. */
export class UnderLegalHoldError extends FerryError {
  override readonly name: string = 'UnderLegalHoldError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('conflict', message, options);
  }
}

/** The scheduled sealer could not seal every site: the sites named stay unsealed until its next run. */
export class AuditSealFailedError extends FerryError {
  override readonly name: string = 'AuditSealFailedError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('transient', message, options);
  }
}

/** A %-encoded path segment decoded; a malformed escape (`%ZZ`) is bad input naming the parameter, not a 500. */
export function decodePathSegment(value: string, field: string): string {
  try {
    return decodeURIComponent(value);
  } catch (error) {
    throw new InvalidInputError(`${field}: "${value}" is not a valid %-encoded path segment`, { cause: error, field });
  }
}
