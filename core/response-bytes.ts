// A function answers at most 6 MB, counted as the invocation's JSON: an HTTP answer's body is a
// string in it, escaped again, so each quote and backslash of its JSON counts twice (a text made
// of them counts double). What bounds a page by bytes counts them so.

/** The bytes `value` takes as JSON inside an HTTP answer's body, escaped as the function returns it. */
export function responseBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(JSON.stringify(value))) - 2;
}
