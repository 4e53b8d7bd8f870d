import { Logger } from '@aws-lambda-powertools/logger';

// Structured logs through Powertools for AWS Lambda: one JSON object per line with the
// function's name, cold start and request id, so CloudWatch Logs Insights can query fields.
// Handlers and local tooling see only the small `Log` function; tests inject their own.

export type Log = (level: 'info' | 'warn' | 'error', message: string, detail?: Record<string, unknown>) => void;

let logger: Logger | undefined;

/** One Powertools logger per process, created on first use (never at import). */
export function powertoolsLogger(): Logger {
  logger ??= new Logger({ serviceName: 'ferry' });
  return logger;
}

export const jsonLog: Log = (level, message, detail) => {
  powertoolsLogger()[level](message, detail ?? {});
};
