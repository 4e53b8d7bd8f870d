import { z } from 'zod';

// "Did you mean …?" for a key a configuration does not know: the keys allowed where the unknown
// one stands are read from the schema itself (following the input through lists, optional and
// defaulted values, and a source's `type`, which picks its own keys), and the nearest of them by
// edit distance is offered when it is near enough to be a slip of the keyboard (`closeAfterFile`
// → `closeAfterFiles`, `shiping` → `shipping`, `StableSeconds` → `stableSeconds`).

type Path = readonly (string | number)[];

/** The schema inside wrappers that do not change an object's keys. */
function unwrap(schema: z.ZodTypeAny): z.ZodTypeAny {
  for (;;) {
    if (schema instanceof z.ZodOptional || schema instanceof z.ZodNullable || schema instanceof z.ZodDefault) schema = schema._def.innerType as z.ZodTypeAny;
    else if (schema instanceof z.ZodEffects) schema = schema._def.schema as z.ZodTypeAny;
    else if (schema instanceof z.ZodLazy) schema = schema._def.getter() as z.ZodTypeAny;
    else if (schema instanceof z.ZodCatch || schema instanceof z.ZodReadonly) schema = schema._def.innerType as z.ZodTypeAny;
    else return schema;
  }
}

/** The keys the schema allows at `path` of `input`, or undefined where it cannot tell. */
export function keysAt(schema: z.ZodTypeAny, path: Path, input: unknown): string[] | undefined {
  const s = unwrap(schema);
  const here = input as Record<string | number, unknown> | undefined;
  if (s instanceof z.ZodDiscriminatedUnion) {
    const chosen = (s as z.ZodDiscriminatedUnion<string, z.ZodObject<z.ZodRawShape>[]>).optionsMap.get(here?.[s.discriminator] as z.Primitive);
    return chosen ? keysAt(chosen, path, input) : undefined;
  }
  if (s instanceof z.ZodUnion) {
    const all = (s.options as z.ZodTypeAny[]).map((o) => keysAt(o, path, input)).filter((k): k is string[] => k !== undefined);
    return all.length === 0 ? undefined : [...new Set(all.flat())];
  }
  if (s instanceof z.ZodIntersection) {
    const both = [keysAt(s._def.left as z.ZodTypeAny, path, input), keysAt(s._def.right as z.ZodTypeAny, path, input)].filter((k): k is string[] => k !== undefined);
    return both.length === 0 ? undefined : [...new Set(both.flat())];
  }
  if (path.length === 0) return s instanceof z.ZodObject ? Object.keys(s.shape as z.ZodRawShape) : undefined;
  const [head, ...rest] = path;
  if (s instanceof z.ZodObject && typeof head === 'string') {
    const child = (s.shape as z.ZodRawShape)[head];
    return child ? keysAt(child, rest, here?.[head]) : undefined;
  }
  if (s instanceof z.ZodArray && typeof head === 'number') return keysAt(s.element as z.ZodTypeAny, rest, here?.[head]);
  if (s instanceof z.ZodRecord) return keysAt(s._def.valueType as z.ZodTypeAny, rest, here?.[head as string]);
  return undefined;
}

/** Optimal string alignment distance (a swap of two neighbours counts one), case ignored. */
function distance(a: string, b: string): number {
  const [x, y] = [a.toLowerCase(), b.toLowerCase()];
  const d = Array.from({ length: x.length + 1 }, (_, i) => Array.from({ length: y.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[x.length]![y.length]!;
}

/** The known key an unknown one is most likely a slip for: within 1 edit (2 for keys of 6 characters or more), case ignored; undefined when none is near or two are as near. */
export function nearestKey(unknown: string, known: readonly string[]): string | undefined {
  const limit = unknown.length >= 6 ? 2 : 1;
  const scored = known.map((k) => ({ k, d: distance(unknown, k) })).filter((s) => s.d <= limit).sort((p, q) => p.d - q.d);
  if (scored.length === 0 || (scored.length > 1 && scored[1]!.d === scored[0]!.d)) return undefined;
  return scored[0]!.k;
}
