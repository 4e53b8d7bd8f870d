import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

// Business metrics through Powertools for AWS Lambda (Embedded Metric Format): each count is
// one JSON line on stdout that CloudWatch turns into a metric in the `Ferry` namespace, with
// the site as a dimension; no PutMetricData call, no extra permission. Handlers see only the
// small `Count` function; tests inject their own.

export type Count = (name: 'ManifestsIngested' | 'ManifestsNotIngested' | 'ManifestsFutureDated' | 'CallCollisions' | 'Replays' | 'LockWaits' | 'LocksAcquired' | 'AlertsNotDelivered' | 'AuditRecordsSealed' | 'AuditSealFailures' | 'ManifestsReconciled' | 'ManifestsNotReconciled', site: string | undefined, value?: number) => void;

export const METRICS_NAMESPACE = 'Ferry';

let metrics: Metrics | undefined;

/** One Powertools metrics instance per process, created on first use (never at import). */
function powertoolsMetrics(): Metrics {
  metrics ??= new Metrics({ namespace: METRICS_NAMESPACE, serviceName: 'ferry' });
  return metrics;
}

/** Emits the count at once (one EMF line), so nothing waits for the end of the invocation. */
export const emfCount: Count = (name, site, value = 1) => {
  const single = powertoolsMetrics().singleMetric();
  if (site) single.addDimension('site', site);
  single.addMetric(name, MetricUnit.Count, value);
};

/** A failed SNS publish, as the functions report it: an error log line and the AlertsNotDelivered metric (by site). */
export function notDeliveredReporter(log: (level: 'error', message: string, detail: Record<string, unknown>) => void, count: Count) {
  return (message: string, error: unknown, alert: { site: string; subject: string }): void => {
    log('error', message, { site: alert.site, subject: alert.subject, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
    count('AlertsNotDelivered', alert.site);
  };
}
