import { describe, expect, it } from 'vitest';
import { NotDeliveredError } from '../../core/errors.ts';
import type { Alert } from '../../core/ports.ts';
import { MemoryPurgeRunStore, MemoryPurgeWatchStore, watchPurges, type PurgeWatchSite } from '../../core/purge-watch.ts';

// The dead-man's switch's watch of the scheduled purges: a site whose purgeCron came due more
// than its grace ago with no purge run recorded since is alerted once per missed occurrence,
// resolved when a run appears, and the memory of what was alerted is the store's, not the process's.

const MIN = 60_000;
// Sundays 05:00 UTC; 2026-03-01 is a Sunday.
const SITE: PurgeWatchSite = { name: 'site-a', purgeCron: '0 5 ? * SUN *', purgeGraceMinutes: 420 };
const SUNDAY = Date.parse('2026-03-01T05:00:00Z');
const at = (ms: number) => new Date(ms);

function setup() {
  const purgeRuns = new MemoryPurgeRunStore();
  const purgeWatch = new MemoryPurgeWatchStore();
  const alerts: Alert[] = [];
  const deps = { purgeRuns, purgeWatch, notifier: { notify: async (a: Alert) => void alerts.push(a) } };
  return { purgeRuns, purgeWatch, alerts, deps, pass: (now: number, sites = [SITE]) => watchPurges(deps, sites, at(now)) };
}

/** The switch first watching the site the Saturday before, so the Sunday purge is owed. */
async function watchedFromSaturday() {
  const s = setup();
  expect(await s.pass(SUNDAY - 20 * 60 * MIN)).toEqual([{ site: 'site-a', action: 'none' }]);
  return s;
}

describe('the purge watch of the dead-man switch', () => {
  it('raises one purge-missed warning (not a page: nothing is lost, retention is enforced late) for a Sunday purge with no run recorded 7 h after its time, naming the due time, the schedule and what to do', async () => {
    const s = await watchedFromSaturday();
    expect(await s.pass(SUNDAY + 420 * MIN + MIN)).toEqual([{ site: 'site-a', action: 'raised', missed: '2026-03-01T05:00:00.000Z' }]);
    expect(s.alerts).toHaveLength(1);
    const [alert] = s.alerts;
    expect(alert).toMatchObject({ severity: 'warning', site: 'site-a', kind: 'purge-missed', subject: 'Ferry site-a: scheduled purge did not run' });
    expect(alert!.message).toContain('Nothing is lost: calls past their retention are kept until a purge runs (erased calls stay unplayable meanwhile)');
    expect(alert!.message).toContain('What failed: the purge of site site-a due 2026-03-01T05:00:00.000Z (schedule cron(0 5 ? * SUN *)) has not started: retention is not being enforced');
    expect(alert!.message).toContain('Last purge started: none on record');
    expect(alert!.message).toMatch(/What to do:\n {2}- check the EventBridge rule of the purge of site-a/);
    expect(alert!.message).toContain('start the purge on demand');
  });

  it('does not alert a purge that is not due yet, nor one still within its grace', async () => {
    const s = await watchedFromSaturday();
    expect(await s.pass(SUNDAY - MIN)).toEqual([{ site: 'site-a', action: 'none' }]);
    expect(await s.pass(SUNDAY + 420 * MIN - MIN)).toEqual([{ site: 'site-a', action: 'none' }]);
    expect(s.alerts).toEqual([]);
  });

  it('does not alert a purge whose run was recorded at (or a minute before) its time', async () => {
    const s = await watchedFromSaturday();
    await s.purgeRuns.putPurgeRun({ site: 'site-a', startedAt: at(SUNDAY - 30_000).toISOString(), execution: 'exec-1' });
    expect(await s.pass(SUNDAY + 24 * 60 * MIN)).toEqual([{ site: 'site-a', action: 'none' }]);
    expect(s.alerts).toEqual([]);
  });

  it('alerts a missed occurrence once across several switch runs (its memory in the store), and the next missed occurrence again', async () => {
    const s = await watchedFromSaturday();
    const actions = [];
    for (let i = 0; i < 4; i++) actions.push((await s.pass(SUNDAY + 8 * 60 * MIN + i * 15 * MIN))[0]!.action);
    expect(actions).toEqual(['raised', 'none', 'none', 'none']);
    expect(s.purgeWatch.states.get('site-a')).toMatchObject({ cron: SITE.purgeCron, alertedDue: '2026-03-01T05:00:00.000Z' });
    // A second switch (a cold start) with the same store stays quiet too.
    const again = await watchPurges({ ...s.deps, purgeWatch: s.purgeWatch }, [SITE], at(SUNDAY + 10 * 60 * MIN));
    expect(again[0]!.action).toBe('none');
    expect(s.alerts).toHaveLength(1);
    // Still nothing a week on: the next Sunday's purge is a missed occurrence of its own.
    const week = 7 * 24 * 60 * MIN;
    expect(await s.pass(SUNDAY + week + 8 * 60 * MIN)).toEqual([{ site: 'site-a', action: 'raised', missed: '2026-03-08T05:00:00.000Z' }]);
    expect(s.alerts.map((a) => a.subject)).toEqual(['Ferry site-a: scheduled purge did not run', 'Ferry site-a: scheduled purge did not run']);
  });

  it('resolves with an info message once a run is recorded after the missed time, and forgets the alert', async () => {
    const s = await watchedFromSaturday();
    await s.pass(SUNDAY + 8 * 60 * MIN);
    await s.purgeRuns.putPurgeRun({ site: 'site-a', startedAt: at(SUNDAY + 9 * 60 * MIN).toISOString(), execution: 'arn:exec:on-demand' });
    expect(await s.pass(SUNDAY + 9 * 60 * MIN + 15 * MIN)).toEqual([{ site: 'site-a', action: 'resolved' }]);
    expect(s.alerts[1]).toMatchObject({ severity: 'info', site: 'site-a', kind: 'purge-missed', subject: 'Ferry site-a: resolved - a scheduled purge ran' });
    expect(s.alerts[1]!.message).toContain('The purge due 2026-03-01T05:00:00.000Z did not run; a purge started 2026-03-01T14:00:00.000Z since.');
    expect(s.purgeWatch.states.get('site-a')?.alertedDue).toBeUndefined();
    expect(await s.pass(SUNDAY + 10 * 60 * MIN)).toEqual([{ site: 'site-a', action: 'none' }]);
    expect(s.alerts).toHaveLength(2);
  });

  it('holds no occurrence before it first watched the site against it (a new site, the first deploy of the watch), nor one before its schedule changed', async () => {
    const s = setup();
    // First watched on Monday: Sunday's purge, before the watch, is not alerted.
    const monday = SUNDAY + 24 * 60 * MIN;
    expect(await s.pass(monday)).toEqual([{ site: 'site-a', action: 'none' }]);
    expect(s.purgeWatch.states.get('site-a')).toEqual({ site: 'site-a', cron: SITE.purgeCron, since: at(monday).toISOString() });
    // The schedule moves to Saturdays on Thursday: last Saturday's, before the change, is not alerted; the next one is.
    const saturdays = { ...SITE, purgeCron: '0 5 ? * SAT *' };
    const thursday = SUNDAY + 4 * 24 * 60 * MIN;
    expect(await s.pass(thursday, [saturdays])).toEqual([{ site: 'site-a', action: 'none' }]);
    expect(await s.pass(SUNDAY + 6 * 24 * 60 * MIN + 8 * 60 * MIN, [saturdays])).toEqual([{ site: 'site-a', action: 'raised', missed: '2026-03-07T05:00:00.000Z' }]);
  });

  it('watches only the sites with a purgeCron', async () => {
    const s = setup();
    expect(await s.pass(SUNDAY, [{ name: 'no-schedule' }, SITE])).toEqual([{ site: 'site-a', action: 'none' }]);
  });

  it('resolves an open purge-missed alert once the site\'s purge schedule is removed, saying so, and forgets it', async () => {
    const s = await watchedFromSaturday();
    expect(await s.pass(SUNDAY + 420 * MIN + MIN)).toEqual([{ site: 'site-a', action: 'raised', missed: '2026-03-01T05:00:00.000Z' }]);
    const unscheduled = [{ name: 'site-a' }];
    expect(await s.pass(SUNDAY + 600 * MIN, unscheduled)).toEqual([{ site: 'site-a', action: 'resolved' }]);
    expect(s.alerts.map((a) => [a.severity, a.subject])).toEqual([
      ['warning', 'Ferry site-a: scheduled purge did not run'],
      ['info', 'Ferry site-a: resolved - purge no longer scheduled'],
    ]);
    expect(s.alerts[1]!.message).toContain("The purge due 2026-03-01T05:00:00.000Z did not run; the site's purge schedule (cron(0 5 ? * SUN *)) was removed since");
    expect((await s.purgeWatch.getPurgeWatch('site-a'))?.alertedDue).toBeUndefined();
    expect(await s.pass(SUNDAY + 700 * MIN, unscheduled)).toEqual([]);
    expect(s.alerts).toHaveLength(2);
  });

  it('keeps an alert SNS did not take unsent in the store (the next pass sends it) and still judges the other sites, then throws NotDeliveredError naming the site', async () => {
    const s = await watchedFromSaturday();
    const other = { ...SITE, name: 'site-b' };
    await s.pass(SUNDAY - 20 * 60 * MIN, [other]);
    let refuse = true;
    const deps = { ...s.deps, notifier: { notify: async (a: Alert) => (refuse && a.site === 'site-a' ? Promise.reject(new NotDeliveredError('topic refused')) : void s.alerts.push(a)) } };
    const now = at(SUNDAY + 8 * 60 * MIN);
    await expect(watchPurges(deps, [SITE, other], now)).rejects.toThrow(/purge-missed alert\(s\) not delivered: site-a: topic refused/);
    expect(s.alerts.map((a) => a.site)).toEqual(['site-b']);
    expect(s.purgeWatch.states.get('site-a')?.alertedDue).toBeUndefined();
    refuse = false;
    expect(await watchPurges(deps, [SITE, other], now)).toEqual([
      { site: 'site-a', action: 'raised', missed: '2026-03-01T05:00:00.000Z' },
      { site: 'site-b', action: 'none', missed: '2026-03-01T05:00:00.000Z' },
    ]);
  });
});
