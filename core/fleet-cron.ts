// EventBridge cron expressions (`min hour day-of-month month day-of-week year`, UTC), evaluated
// well enough to say when a window last should have run and when it runs next. Supports what
// the deployment config uses: `*`, `?`, numbers, lists, ranges, steps (`*/15`, `10-40/10`) and
// day/month names. `L`, `W` and `#` are not supported and are refused with a clear error.

const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];

type Field = (value: number) => boolean;

function parseField(text: string, min: number, max: number, names: string[] = [], nameBase = 0): Field {
  if (text === '*' || text === '?') return () => true;
  if (/[LW#]/.test(text)) throw new RangeError(`cron field "${text}": L, W and # are not supported`);
  const value = (v: string): number => {
    const i = names.indexOf(v.toUpperCase());
    const n = i >= 0 ? i + nameBase : Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new RangeError(`cron field "${text}": "${v}" is not in ${min}-${max}`);
    return n;
  };
  const allowed = new Set<number>();
  for (const part of text.split(',')) {
    const [range = '', stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw new RangeError(`cron field "${text}": bad step "${stepText}"`);
    const [from, to] = range === '*' ? [min, max] : range.includes('-') ? range.split('-').map(value) : [value(range), stepText === undefined ? value(range) : max];
    for (let n = from!; n <= to!; n += step) allowed.add(n);
  }
  return (v) => allowed.has(v);
}

export class Cron {
  private readonly minute: Field;
  private readonly hour: Field;
  private readonly dom: Field;
  private readonly month: Field;
  private readonly dow: Field;
  private readonly year: Field;

  constructor(readonly expression: string) {
    const f = expression.trim().split(/\s+/);
    if (f.length !== 6) throw new RangeError(`cron "${expression}" must have six fields (min hour day month weekday year)`);
    // EventBridge refuses the rule otherwise (at deploy time, rolling the stack back).
    if ((f[2] === '?') === (f[4] === '?')) throw new RangeError(`cron "${expression}": exactly one of day-of-month (3rd field) and day-of-week (5th) must be "?", as EventBridge requires (e.g. "0 2 * * ? *" daily, "0 5 ? * SUN *" weekly)`);
    if ([0, 1, 3, 5].some((i) => f[i] === '?')) throw new RangeError(`cron "${expression}": "?" is allowed only in day-of-month and day-of-week`);
    this.minute = parseField(f[0]!, 0, 59);
    this.hour = parseField(f[1]!, 0, 23);
    this.dom = parseField(f[2]!, 1, 31);
    this.month = parseField(f[3]!, 1, 12, MONTHS, 1);
    // EventBridge numbers weekdays 1-7 from Sunday.
    this.dow = parseField(f[4]!, 1, 7, DAYS, 1);
    this.year = parseField(f[5]!, 1970, 2199);
  }

  matches(at: Date): boolean {
    return this.minute(at.getUTCMinutes()) && this.hour(at.getUTCHours()) && this.dom(at.getUTCDate()) && this.month(at.getUTCMonth() + 1) && this.dow(at.getUTCDay() + 1) && this.year(at.getUTCFullYear());
  }

  /** The first matching minute strictly after `after`, looking at most `horizonDays` ahead. */
  next(after: Date, horizonDays = 40): Date | undefined {
    return this.walk(after, 1, horizonDays);
  }

  /** The last matching minute at or before `at`, looking at most `horizonDays` back. */
  previous(at: Date, horizonDays = 40): Date | undefined {
    return this.walk(at, -1, horizonDays);
  }

  private walk(from: Date, direction: 1 | -1, horizonDays: number): Date | undefined {
    let t = Math.floor(from.getTime() / 60_000) * 60_000;
    if (direction === 1) t += 60_000;
    for (let i = 0; i < horizonDays * 1440; i++, t += direction * 60_000) {
      const d = new Date(t);
      if (this.matches(d)) return d;
    }
    return undefined;
  }
}
