import type { ArtefactEntry } from './ports.ts';
import type { RestoreStep } from './restore-commands.ts';

// What a restore plan is (core/restore-plan.ts plans it; the API returns it, `ferry restore`
// prints and fetches it): its files, steps and notes, or a refusal saying why and the nearest
// reachable time.

export interface PlanFile {
  /** Local file name (the artefact's base name; prefixed with its id when two would clash). */
  name: string;
  role: 'full' | 'segment' | 'archive';
  artefactId: string;
  key: string;
  size: number;
  sha256: string;
  sequence?: number;
  partial?: boolean;
}

export interface RestorePlan {
  ok: true;
  site: string;
  source: string;
  logSource?: string;
  /** T as asked, UTC. */
  at: string;
  /** T cut to the second: events logged at or after it are not applied. */
  stopAt: string;
  /** The state the plan gives: stopAt, or the full's time when the source has no logs. */
  reachedAt: string;
  full: ArtefactEntry;
  segments: ArtefactEntry[];
  /**
   * A source with no logs that holds backups under other names (two databases in one folder:
   * OCS's rtc_full.bak and rtcconfig_full.bak): the newest at or before T of each other name,
   * oldest first, restored beside `full` (seriesOf: digits do not make a name of its own).
   */
  others?: ArtefactEntry[];
  startPosition?: { logFile: string; logPos: number };
  files: PlanFile[];
  totalBytes: number;
  steps: RestoreStep[];
  commands: string[];
  notes: string[];
}

export type RefusalCode = 'in-future' | 'no-full' | 'gap' | 'after-last-event';

export interface RestoreRefusal {
  ok: false;
  code: RefusalCode;
  reason: string;
  at: string;
  /** The reachable time nearest to T, when there is one. */
  nearestReachable?: string;
}

export type RestorePlanResult = RestorePlan | RestoreRefusal;

export interface PlanOptions {
  /** T: an ISO date-time with a zone. InvalidInputError otherwise. */
  at: string;
  now: Date;
  site?: string;
  source?: string;
  logSource?: string;
  /** The source has no log segments at all (CVP, SQL Server .bak, settings): the plan is the full alone. */
  fullOnly?: boolean;
  /** The log segments were left out on request (`--log-source none`): said so in the plan's note. */
  logsLeftOut?: boolean;
}
