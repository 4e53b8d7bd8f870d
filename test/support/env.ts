// The environment put back as a test found it.

/** Puts back the variables of `saved` (a copy taken before) on process.env itself, not a copy in its place (see file-isolation.ts). */
export function restoreEnv(saved: Record<string, string | undefined>): void {
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
  for (const [k, v] of Object.entries(saved)) if (v !== undefined) process.env[k] = v;
}
