import { TaskLostError } from '../../core/activity.ts';
import { UnauthorizedError } from '../../adapters/console-token.ts';
import {
  AlreadyExistsError,
  ArchivedError,
  ErasedError,
  AuditSealFailedError,
  ConfigError,
  FerryError,
  IntegrityError,
  InvalidInputError,
  NotDeliveredError,
  NotFoundError,
  RangeNotSatisfiableError,
  SourceChangedError,
  TransientError,
  UnderLegalHoldError,
  UnreadableSourceError,
} from '../../core/errors.ts';
import { CaseChangedError, CaseReleasingError } from '../../core/hold-items.ts';
import { LockHeldError, LockLostError } from '../../core/lock.ts';
import { ManifestError } from '../../core/manifest.ts';
import { AgentStoppedError } from '../../agent/activity-worker.ts';
import { StateLockedError } from '../../agent/state/state-lock.ts';
import { IngestFailedError } from '../../functions/ingest/handler.ts';
import { ReportRunError } from '../../functions/report/handler.ts';
import { ActivityApiError } from '../../local/activity-service.ts';
import { ApiError } from '../../cli/api-client.ts';
import { NoCloudError } from '../../cli/cloud.ts';
import { RestoreRefusedError } from '../../cli/restore-commands.ts';
import { FetchInterruptedError, InsufficientSpaceError } from '../../cli/restore-fetch.ts';
import { RestoreInterruptedError } from '../../cli/tree-writer.ts';
import { DeploymentConfigError } from '../../infra/config.ts';
import { FunctionError } from '../../local/local-lambda.ts';
import { UnsupportedEventRuleError } from '../../local/event-rules.ts';
import { PackGoneError } from '../../agent/tree/snapshot.ts';
import { EarlierAttemptError } from '../../agent/pack-attempts.ts';
import { TreeVanishedError } from '../../agent/tree/walk.ts';
import { TreeRestoreUnfinishedError } from '../../agent/tree/restore-marker.ts';
import { FormatChangedError, IncompleteDumpError } from '../../agent/ship-artefact.ts';
import { JournalClosedError } from '../../agent/journal.ts';
import { UploadKeptError } from '../../agent/upload-keep.ts';

// One instance of every exported error class, with the name it must carry: Step Functions
// (`ErrorEquals`), Lambda's `errorType`, the HTTP error middleware and operators match on it.
// test/core/error-names.test.ts checks the list is complete and bundles it minified.

const at = '2026-01-01T00:00:00Z';
const held = { site: 'site-a', token: 1, holder: 'other', operation: 'backup' as const, acquiredAt: at, heartbeatAt: at };

export const ERROR_SAMPLES: { cls: string; name: string; make: () => Error }[] = [
  { cls: 'FerryError', name: 'FerryError', make: () => new FerryError('fatal', 'x') },
  { cls: 'InvalidInputError', name: 'InvalidInputError', make: () => new InvalidInputError('x') },
  { cls: 'NotFoundError', name: 'NotFoundError', make: () => new NotFoundError('x') },
  { cls: 'ReportRunError', name: 'ReportRunError', make: () => new ReportRunError('x') },
  { cls: 'NotDeliveredError', name: 'NotDeliveredError', make: () => new NotDeliveredError('x') },
  { cls: 'AuditSealFailedError', name: 'AuditSealFailedError', make: () => new AuditSealFailedError('x') },
  { cls: 'EarlierAttemptError', name: 'EarlierAttemptError', make: () => new EarlierAttemptError('x') },
  { cls: 'UnauthorizedError', name: 'UnauthorizedError', make: () => new UnauthorizedError('x') },
  { cls: 'AlreadyExistsError', name: 'AlreadyExistsError', make: () => new AlreadyExistsError('x') },
  { cls: 'CaseChangedError', name: 'CaseChangedError', make: () => new CaseChangedError('x') },
  { cls: 'CaseReleasingError', name: 'CaseReleasingError', make: () => new CaseReleasingError('x') },
  { cls: 'RangeNotSatisfiableError', name: 'RangeNotSatisfiableError', make: () => new RangeNotSatisfiableError('x', 1) },
  { cls: 'IntegrityError', name: 'IntegrityError', make: () => new IntegrityError('x') },
  { cls: 'TransientError', name: 'TransientError', make: () => new TransientError('x') },
  { cls: 'SourceChangedError', name: 'SourceChangedError', make: () => new SourceChangedError('x', '/p') },
  { cls: 'ConfigError', name: 'ConfigError', make: () => new ConfigError(['a: b']) },
  { cls: 'UnreadableSourceError', name: 'UnreadableSourceError', make: () => new UnreadableSourceError('x', '/p') },
  { cls: 'IncompleteDumpError', name: 'IncompleteDumpError', make: () => new IncompleteDumpError('x', '/p') },
  { cls: 'FormatChangedError', name: 'FormatChangedError', make: () => new FormatChangedError('x', '/p') },
  { cls: 'JournalClosedError', name: 'JournalClosedError', make: () => new JournalClosedError('x') },
  { cls: 'ArchivedError', name: 'ArchivedError', make: () => new ArchivedError('x', 'DEEP_ARCHIVE') },
  { cls: 'ErasedError', name: 'ErasedError', make: () => new ErasedError('x') },
  { cls: 'UnderLegalHoldError', name: 'UnderLegalHoldError', make: () => new UnderLegalHoldError('x') },
  { cls: 'LockHeldError', name: 'LockHeldError', make: () => new LockHeldError(held, 0) },
  { cls: 'LockLostError', name: 'LockLostError', make: () => new LockLostError('site-a', 1, 'x') },
  { cls: 'TaskLostError', name: 'TaskLostError', make: () => new TaskLostError('x') },
  { cls: 'ManifestError', name: 'ManifestError', make: () => new ManifestError('x') },
  { cls: 'StateLockedError', name: 'StateLockedError', make: () => new StateLockedError('x') },
  { cls: 'AgentStoppedError', name: 'AgentStoppedError', make: () => new AgentStoppedError() },
  { cls: 'IngestFailedError', name: 'IngestFailedError', make: () => new IngestFailedError([]) },
  // Named after the Step Functions API error code it stands for.
  { cls: 'ActivityApiError', name: 'TaskTimedOut', make: () => new ActivityApiError('TaskTimedOut', 'x') },
  { cls: 'ApiError', name: 'ApiError', make: () => new ApiError(500, {}, 'x') },
  { cls: 'NoCloudError', name: 'NoCloudError', make: () => new NoCloudError() },
  { cls: 'RestoreRefusedError', name: 'RestoreRefusedError', make: () => new RestoreRefusedError({ reason: 'x' } as never) },
  { cls: 'InsufficientSpaceError', name: 'InsufficientSpaceError', make: () => new InsufficientSpaceError('x') },
  { cls: 'FetchInterruptedError', name: 'FetchInterruptedError', make: () => new FetchInterruptedError('x') },
  { cls: 'RestoreInterruptedError', name: 'RestoreInterruptedError', make: () => new RestoreInterruptedError('x') },
  { cls: 'DeploymentConfigError', name: 'DeploymentConfigError', make: () => new DeploymentConfigError(['x']) },
  { cls: 'PackGoneError', name: 'PackGoneError', make: () => new PackGoneError('x') },
  { cls: 'TreeVanishedError', name: 'TreeVanishedError', make: () => new TreeVanishedError('x') },
  { cls: 'TreeRestoreUnfinishedError', name: 'TreeRestoreUnfinishedError', make: () => new TreeRestoreUnfinishedError('x') },
  // Carries the errorType the function reported, whatever the class is called.
  { cls: 'FunctionError', name: 'LockHeldError', make: () => new FunctionError('LockHeldError', 'x') },
  { cls: 'UploadKeptError', name: 'UploadKeptError', make: () => new UploadKeptError('x', { stored: 0, size: 0, since: '', stops: 1, reason: 'x' }) },
  { cls: 'UnsupportedEventRuleError', name: 'UnsupportedEventRuleError', make: () => new UnsupportedEventRuleError('x') },
];

/** What a bundle of this module reports: each class and the name its instance carries. */
export function sampleNames(): { cls: string; name: string }[] {
  return ERROR_SAMPLES.map((s) => ({ cls: s.cls, name: s.make().name }));
}
