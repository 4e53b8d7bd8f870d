// Structured logs: one JSON object per line, so CloudWatch Logs Insights can query fields.

export type Log = (level: 'info' | 'warn' | 'error', message: string, detail?: Record<string, unknown>) => void;

export const jsonLog: Log = (level, message, detail) => {
  const line = JSON.stringify({ level, message, ...detail });
  if (level === 'error') console.error(line);
  else console.log(line);
};
