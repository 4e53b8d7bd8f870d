/** The record without its undefined fields (an item DynamoDB stores, a record compared whole). */
export function defined<T extends Record<string, unknown>>(record: T): T {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined)) as T;
}
