import type { ArtefactEntry } from './ports.ts';

// The commands that apply a restore plan, as data (steps) and as text: one rendering to print,
// one bash script (apply.sh) whose client commands are variables so the operator can add
// --user, --password, --socket… without editing it.
//
// Time zones: mariadb-binlog/mysqlbinlog read --start/--stop-datetime in the client's LOCAL
// time zone. Every datetime here is UTC, so every binlog command runs under TZ=UTC.

export type ClientFamily = 'mariadb' | 'mysql';

export type RestoreStep =
  | { kind: 'load-sql'; file: string; family: ClientFamily; gzip?: boolean; database?: string; port?: number; comment?: string }
  | { kind: 'vendor'; file: string; comment: string }
  | {
      kind: 'binlog';
      family: ClientFamily;
      files: string[];
      /** Byte offset in the first file where the full's snapshot ends (the dump's recorded position). */
      startPosition?: number;
      /** UTC `YYYY-MM-DD HH:MM:SS`, when the full records no position. */
      startDatetime?: string;
      /** UTC `YYYY-MM-DD HH:MM:SS`: the first event at or after it is not applied. */
      stopDatetime: string;
      database?: string;
      port?: number;
    };

const TOOLS = {
  mariadb: { client: 'mariadb', binlog: 'mariadb-binlog', clientVar: 'MARIADB', binlogVar: 'MARIADB_BINLOG', other: 'MySQL: mysqlbinlog … | mysql' },
  mysql: { client: 'mysql', binlog: 'mysqlbinlog', clientVar: 'MYSQL', binlogVar: 'MYSQLBINLOG', other: 'MariaDB: mariadb-binlog … | mariadb' },
} as const;

/** `2026-03-01 14:05:00` from an ISO instant, in UTC. */
export function binlogDatetime(iso: string): string {
  return new Date(iso).toISOString().slice(0, 19).replace('T', ' ');
}

/** Quotes for a POSIX shell when needed. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9._/:=@%+-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** How to load a full backup, from its name and profile (rostrvm's .rbk is a MySQL dump: its manual loads it with `mysql`). */
export function loadStep(full: Pick<ArtefactEntry, 'name' | 'profile'>, file: string): RestoreStep {
  const base = file.toLowerCase();
  const rostrvm = /^(rostrvm_\d+)_\d+\.rbk$/i.exec(file);
  if (base.endsWith('.rbk') || full.profile === 'rostrvm') {
    return { kind: 'load-sql', file, family: 'mysql', port: 3308, database: rostrvm?.[1], comment: 'rostrvm: stop the rostrvm service first (leave the MySQL service running); user and password as set at installation' };
  }
  if (base.endsWith('.sdb')) {
    return { kind: 'vendor', file, comment: `rostrvm archive: copy ${file} to where the rostrvm AuditLog viewer reads archives (on the rostrvm server, or apart from it, as its manual says), under this name` };
  }
  if (base.endsWith('.sql')) return { kind: 'load-sql', file, family: 'mariadb' };
  if (base.endsWith('.sql.gz')) return { kind: 'load-sql', file, family: 'mariadb', gzip: true };
  if (base.startsWith('cvp_backup_data') || full.profile === 'cvp') {
    return { kind: 'vendor', file, comment: `Cisco CVP (Informix): restore ${file} with the Informix ontape utility (ontape -r), as the CVP reporting guide describes` };
  }
  if (base.endsWith('.bak')) return { kind: 'vendor', file, comment: `SQL Server: RESTORE DATABASE <name> FROM DISK = N'<path to ${file}>' WITH REPLACE (sqlcmd or Management Studio)` };
  if (base.endsWith('.xml')) return { kind: 'vendor', file, comment: `OCS settings: lcscmd /config /action:import /level:<global,pool or machine> /configfile:${file}` };
  return { kind: 'vendor', file, comment: `restore ${file} with the tool that wrote it${full.profile ? ` (profile ${full.profile})` : ''}` };
}

function clientArgs(step: { port?: number; database?: string }): string[] {
  return [...(step.port ? [`--port=${step.port}`] : []), ...(step.database ? [step.database] : [])];
}

function binlogArgs(step: Extract<RestoreStep, { kind: 'binlog' }>): string[] {
  return [
    ...(step.database ? [`--database=${step.database}`] : []),
    ...(step.startPosition !== undefined ? [`--start-position=${step.startPosition}`] : []),
    ...(step.startDatetime ? [`--start-datetime=${shellQuote(step.startDatetime)}`] : []),
    `--stop-datetime=${shellQuote(step.stopDatetime)}`,
    ...step.files.map(shellQuote),
  ];
}

/**
 * apply.sh's STOP_POSITION: binlog times are whole seconds, so a statement in T's own second (the
 * DELETE without WHERE, and the rows written in that second before it) cannot be told apart by
 * time. The operator fetches with T a second after it, finds the statement's `# at N` and runs
 * `STOP_POSITION=N ./apply.sh` (the statement in the last segment) or `STOP_POSITION=FILE:N` (in
 * FILE, when the server rotated between the statement and T): the replay ends with that segment
 * and stops before the first event at or after byte N of it (--stop-position applies to the last
 * file given), or at --stop-datetime, whichever comes first. Checked before anything is applied.
 * The last replay's segments are the array `segments`, cut at the stop's segment.
 */
function stopPositionLines(steps: RestoreStep[]): string[] {
  const replay = steps.filter((s): s is Extract<RestoreStep, { kind: 'binlog' }> => s.kind === 'binlog').at(-1);
  if (replay === undefined) {
    return ['if [ -n "${STOP_POSITION:-}" ]; then echo "apply.sh: STOP_POSITION is set but this plan replays no log segment: nothing to stop; nothing was applied" >&2; exit 7; fi'];
  }
  // The first segment is read from the full's position on: a stop before that applies nothing of it.
  const floor = replay.startPosition === undefined ? '4' : `$([ "$stop_segment" = ${shellQuote(replay.files[0]!)} ] && echo ${replay.startPosition} || echo 4)`;
  const usage = "give the byte offset of the first event not to apply, a '# at N' line of mariadb-binlog (mysqlbinlog) over that file, as N (in the last segment) or FILE:N";
  return [
    `segments=(${replay.files.map(shellQuote).join(' ')})`,
    'STOP_POSITION=${STOP_POSITION:-}',
    'if [ -n "$STOP_POSITION" ]; then',
    '  stop_segment=${segments[${#segments[@]}-1]}',
    '  if [[ "$STOP_POSITION" == *:* ]]; then stop_segment=${STOP_POSITION%:*}; STOP_POSITION=${STOP_POSITION##*:}; fi',
    '  kept=()',
    '  for segment in "${segments[@]}"; do kept+=("$segment"); [ "$segment" = "$stop_segment" ] && break; done',
    `  [ "\${kept[\${#kept[@]}-1]}" = "$stop_segment" ] || { echo "apply.sh: STOP_POSITION names $stop_segment, which is not a segment this plan replays (\${segments[*]}). Nothing was applied." >&2; exit 7; }`,
    `  floor=${floor}`,
    `  { [[ "$STOP_POSITION" =~ ^[0-9]+$ ]] && [ "$STOP_POSITION" -ge "$floor" ]; } || { echo "apply.sh: STOP_POSITION=$STOP_POSITION is not a position in $stop_segment from byte $floor on: ${usage}. Nothing was applied." >&2; exit 7; }`,
    // A position past the segment's end stops nothing: the whole segment would be replayed.
    '  size=$(( $(wc -c < "$stop_segment") ))',
    `  [ "$STOP_POSITION" -le "$size" ] || { echo "apply.sh: STOP_POSITION=$STOP_POSITION is past the end of $stop_segment ($size bytes): the replay would stop nowhere in it and apply all of it: ${usage}. Nothing was applied." >&2; exit 7; }`,
    '  [ ${#kept[@]} -lt ${#segments[@]} ] && echo "apply.sh: the segments after $stop_segment are not applied (STOP_POSITION)" >&2',
    '  segments=("${kept[@]}")',
    '  echo "apply.sh: the replay stops before byte $STOP_POSITION of $stop_segment (STOP_POSITION), or at the plan\'s time, whichever comes first" >&2',
    'fi',
  ];
}

/** The steps as commands to print (comments start with #). */
export function renderCommands(steps: RestoreStep[]): string[] {
  const out: string[] = [];
  for (const step of steps) {
    if (step.kind === 'vendor') {
      out.push(`# ${step.comment}`);
      continue;
    }
    const tools = TOOLS[step.family];
    const client = [tools.client, ...clientArgs(step)].join(' ');
    if (step.kind === 'load-sql') {
      if (step.comment) out.push(`# ${step.comment}`);
      out.push(step.gzip ? `gunzip -c ${shellQuote(step.file)} | ${client}` : `${client} < ${shellQuote(step.file)}`);
      continue;
    }
    out.push(`TZ=UTC ${[tools.binlog, ...binlogArgs(step)].join(' ')} | ${client}`);
    out.push(`# (${tools.other}; TZ=UTC because --stop-datetime is read in the client's local time zone)`);
  }
  return out;
}

export interface ApplyScriptHeader {
  site: string;
  source: string;
  at: string;
  stopAt: string;
  /** Set when the plan replays no log segment (--log-source none, a source without logs): the full's time, the state the script gives instead of T. */
  fullAsTakenAt?: string;
  /** The plan's files with their SHA-256: checked again before anything is applied. */
  files?: { name: string; sha256: string }[];
}

/**
 * Lines that check every file against the plan's SHA-256 before the first step runs. A file can
 * change after the fetch verified it: fetched into a database server's data directory, a binlog of
 * the server's own name is overwritten in place when the server rotates to it, and the replay would
 * read the server's header and stop early with exit 0: a partial restore that says it was applied.
 */
function checkLines(files: { name: string; sha256: string }[]): string[] {
  if (files.length === 0) return [];
  return [
    'sha256_of() { if command -v sha256sum >/dev/null; then sha256sum -- "$1"; else shasum -a 256 -- "$1"; fi | cut -d " " -f 1; }',
    'check() {',
    '  [ -f "$1" ] && [ "$(sha256_of "$1")" = "$2" ] && return 0',
    '  echo "apply.sh: $(pwd)/$1 is not the file fetched and verified: its SHA-256 is not the plan\'s ($2). Something changed it since the fetch (a database server whose data directory this is writes binlogs of these names). Nothing was applied: run ferry restore fetch again into an empty directory of its own (not a server\'s data directory) and run its apply.sh." >&2',
    '  exit 4',
    '}',
    ...files.map((f) => `check ${shellQuote(f.name)} ${shellQuote(f.sha256)}`),
  ];
}

function headerLine(h: ApplyScriptHeader): string {
  const what = `# Ferry restore plan: site ${h.site}, source ${h.source}`;
  if (h.fullAsTakenAt !== undefined) return `${what}: the full backup as taken at ${h.fullAsTakenAt}, not the state at ${h.at} (no log segment is replayed).`;
  return `${what}, state at ${h.at} (events from ${h.stopAt} on are not applied).`;
}

/** Comments carry names and profiles from the catalogue: one line each, whatever they hold. */
const oneLine = (text: string) => text.replace(/[\x00-\x1f\x7f]/g, ' ');

/**
 * Lines that ask the server each client reaches who it is (host, port, data directory, version)
 * and say it before anything is applied: with no client options the client goes to its default
 * server, on the primary's own host the production one. Run from a terminal, the operator types
 * that host name to go on (FERRY_APPLY_YES=1 skips the question, for scripts); anything else stops
 * with nothing applied. A server that cannot be reached stops it too, saying which variable to set.
 */
function targetLines(steps: RestoreStep[]): string[] {
  const applied = steps.filter((s): s is Exclude<RestoreStep, { kind: 'vendor' }> => s.kind !== 'vendor');
  const clients = [...new Map(applied.map((s) => [`${s.family}:${s.port ?? ''}`, s])).values()];
  return clients.flatMap((s, i) => {
    const tools = TOOLS[s.family];
    const client = [`$${tools.clientVar}`, ...(s.port ? [`--port=${s.port}`] : [])].join(' ');
    return [
      `server${i}=$(${client} -N -B -e 'SELECT CONCAT(@@hostname, ":", @@port, " (data directory ", @@datadir, ", ", @@version, ")")' < /dev/null) || { echo "apply.sh: cannot reach the server to restore into with ${client.replace('$', '\\$')} (${tools.clientVar}=$${tools.clientVar}): nothing was applied. Set ${tools.clientVar} to the client command for that server, e.g. ${tools.clientVar}=\\"${tools.client} --host=standby-db --user=root --password\\" ./apply.sh" >&2; exit 5; }`,
      `echo "apply.sh: the plan below will be applied to the server \${server${i}:-that ${tools.clientVar} reaches (it did not say its name)}" >&2`,
      `if [ -t 0 ] && [ "\${FERRY_APPLY_YES:-}" != 1 ]; then`,
      `  read -r -p "Type that server's host name (\${server${i}%%:*}) to apply the plan to it, anything else stops: " answer`,
      `  [ "$answer" = "\${server${i}%%:*}" ] || { echo 'apply.sh: stopped, nothing was applied' >&2; exit 6; }`,
      'fi',
    ];
  });
}

/** A bash script that applies the steps from the directory it lives in, stopping at the first failure. */
export function renderApplyScript(steps: RestoreStep[], header: ApplyScriptHeader): string {
  const families = [...new Set(steps.flatMap((s) => (s.kind === 'vendor' ? [] : [s.family])))];
  const lines = [
    '#!/usr/bin/env bash',
    headerLine(header),
    '# Every file of the plan was verified against its SHA-256 when it was fetched, and is checked again below before anything is applied.',
    '# Client options (user, password, host, port, socket) go in the variables below, e.g.',
    `#   ${families[0] === 'mysql' ? 'MYSQL' : 'MARIADB'}="${families[0] === 'mysql' ? 'mysql' : 'mariadb'} --user=root --password" ./apply.sh`,
    ...(steps.some((s) => s.kind === 'binlog') ? ["# To stop before a statement within the plan's last second (binlog times are whole seconds): STOP_POSITION=N ./apply.sh, N the byte offset of its event in the last segment, or STOP_POSITION=FILE:N (docs/restore.md)."] : []),
    'set -euo pipefail',
    'cd "$(dirname "$0")"',
    ...checkLines(header.files ?? []),
    ...families.flatMap((f) => [`${TOOLS[f].clientVar}=\${${TOOLS[f].clientVar}:-${TOOLS[f].client}}`, `${TOOLS[f].binlogVar}=\${${TOOLS[f].binlogVar}:-${TOOLS[f].binlog}}`]),
    ...stopPositionLines(steps),
    ...targetLines(steps),
  ];
  const lastReplay = steps.filter((s) => s.kind === 'binlog').at(-1);
  for (const step of steps) {
    if (step.kind === 'vendor') {
      lines.push(`# ${oneLine(step.comment)}`, `echo ${shellQuote(`manual step: ${oneLine(step.comment)}`)} >&2`, 'exit 3');
      continue;
    }
    const tools = TOOLS[step.family];
    const client = [`$${tools.clientVar}`, ...clientArgs(step)].join(' ');
    if (step.kind === 'load-sql') {
      if (step.comment) lines.push(`# ${oneLine(step.comment)}`);
      lines.push(`echo ${shellQuote(`loading the full backup ${step.file}`)} >&2`);
      lines.push(step.gzip ? `gunzip -c ${shellQuote(step.file)} | ${client}` : `${client} < ${shellQuote(step.file)}`);
      continue;
    }
    lines.push(`echo ${shellQuote(`applying ${step.files.length} log segment(s) up to ${step.stopDatetime} UTC`)} >&2`);
    const args = binlogArgs(step);
    // The last replay reads its segments from the array stopPositionLines wrote (cut at a stop's
    // segment), with --stop-position only when the operator set one.
    if (step === lastReplay) args.splice(args.length - step.files.length, step.files.length, '${STOP_POSITION:+--stop-position=$STOP_POSITION}', '"${segments[@]}"');
    lines.push(`TZ=UTC $${tools.binlogVar} ${args.join(' ')} | ${client}`);
  }
  lines.push("echo 'restore plan applied' >&2", '');
  return lines.join('\n');
}
