// State names of the workflows: the CDK constructs name the states with them, tests and
// operators read executions by them. No CDK import here, so reading them loads no aws-cdk-lib.

export const WINDOW_STATES = {
  mode: 'Scheduled or on demand',
  scheduled: 'Scheduled run',
  onDemand: 'On-demand run',
  start: 'Record start',
  startOnDemand: 'Record on-demand start',
  acquire: 'Acquire lock',
  acquireOnce: 'Acquire lock once',
  whoHolds: 'Who holds the lock',
  dispatch: 'Dispatch to agent',
  verify: 'Verify arrival',
  release: 'Release lock',
  record: 'Record run',
  alertDue: 'Alert due',
  publish: 'Publish alert',
  recordFailed: 'Alert record failed',
  outcome: 'Outcome',
  failed: 'Window failed',
  done: 'Window done',
} as const;

export const PURGE_STATES = {
  start: 'Record start',
  firstRound: 'First round',
  nextRound: 'Next round',
  acquire: 'Acquire lock',
  whoHolds: 'Who holds the lock',
  plan: 'Plan purge',
  deleteBatches: 'Delete batches',
  deleteBatch: 'Delete batch',
  release: 'Release lock',
  report: 'Report',
  publish: 'Publish report',
  reportFailed: 'Alert report failed',
  outcome: 'Outcome',
  failed: 'Purge failed',
  done: 'Purge done',
} as const;

export const RECALL_STATES = {
  request: 'Request restore',
  restored: 'Restored',
  wait: 'Wait for restore',
  check: 'Check restore',
  notify: 'Notify requester',
  recalled: 'Recalled',
  giveUp: 'Give up recall',
  notifyFailed: 'Notify requester of failure',
  alertTo: 'Alert recall failed: to whom',
  alertSite: 'Alert recall failed: site known',
  alertRequester: 'Alert recall failed: requester known',
  failedAlert: 'Alert recall failed',
  failed: 'Recall failed',
  done: 'Recall done',
} as const;

export type WorkflowFunctionName = 'lock' | 'window' | 'purge' | 'recall';
