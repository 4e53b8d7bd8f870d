import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../core/errors.ts';
import { callMetadataSchema } from '../../core/manifest.ts';
import {
  DEFAULT_SIDECAR_FIELDS,
  createMetadataExtractor,
  metadataConfigSchema,
  parseMetadataConfig,
  type MetadataConfigInput,
  type MetadataInput,
} from '../../core/metadata.ts';
import { formatIsoWithOffset, timeZoneOffsetMs, wallTimeToInstant } from '../../core/time-format.ts';

// After every call time below: a call cannot start after its file was last written (that is an issue).
const MTIME = new Date('2029-06-01T12:00:00Z');
const bytes = (text: string) => new TextEncoder().encode(text);

function run(config: MetadataConfigInput, input: Partial<MetadataInput> & { fileName: string }) {
  const result = createMetadataExtractor(config).extract({ relativePath: `000001/${input.fileName}`, mtime: MTIME, ...input });
  expect(callMetadataSchema.parse(result.meta)).toEqual(result.meta);
  return result;
}

const demoXml = `<?xml version="1.0" encoding="UTF-8"?>
<Recording version="1">
  <CallId>000001007</CallId>
  <StartTime>2024-07-01T10:15:00+01:00</StartTime>
  <EndTime>2024-07-01T10:16:05.250+01:00</EndTime>
  <Duration>65.25</Duration>
  <Agent>Siobhán O&apos;Neill</Agent>
  <Caller> +44 1632 960123 </Caller>
  <Called>+442079460001</Called>
  <Direction>Incoming</Direction>
  <Codec>L16/8000</Codec>
</Recording>`;

const demoMeta = {
  callId: '000001007',
  start: '2024-07-01T09:15:00.000Z',
  end: '2024-07-01T09:16:05.250Z',
  durationSec: 65.25,
  agent: "Siobhán O'Neill",
  caller: '+441632960123',
  called: '+442079460001',
  direction: 'inbound',
  codec: 'L16/8000',
};

describe('metadata config', () => {
  it('defaults read the demo sidecars (XML, then JSON) in UTC, waiting a minute for a late one', () => {
    const cfg = metadataConfigSchema.parse(undefined);
    expect(cfg).toEqual({ sidecar: { enabled: true, extensions: ['.xml', '.json'], fields: DEFAULT_SIDECAR_FIELDS, timeFormat: 'iso', waitSeconds: 60 } });
    expect(metadataConfigSchema.parse({ timezone: 'Europe/London' }).sidecar.fields).toEqual(DEFAULT_SIDECAR_FIELDS);
    expect(metadataConfigSchema.parse({ sidecar: null }).sidecar.enabled).toBe(true);
    expect(metadataConfigSchema.parse({ sidecar: false }).sidecar.enabled).toBe(false);
  });

  it('a fields map replaces the default map as a whole', () => {
    expect(metadataConfigSchema.parse({ sidecar: { fields: { callId: 'Call.@_id' } } }).sidecar.fields).toEqual({ callId: 'Call.@_id' });
  });

  it.each([
    [{ filename: { pattern: '(?<callId>[a-z' } }, 'filename.pattern', 'not a valid regular expression'],
    [{ filename: { pattern: '^(?<callId>\\w+)_(?<when>\\d+)' } }, 'filename.pattern', 'unknown group name(s) when'],
    [{ filename: { pattern: '^\\w+\\.wav$' } }, 'filename.pattern', 'no named groups'],
    [{ filename: { pattern: '(?<start>\\d+)', startFormat: 'yyyyMMddQ' } }, 'filename.startFormat', 'unknown letter "Q"'],
    [{ filename: { pattern: '(?<start>\\d+)', startFormat: 'HHmmss' } }, 'filename.startFormat', 'lacks yyyy, MM, dd'],
    [{ timezone: 'Europe/Londres' }, 'timezone', 'unknown time zone "Europe/Londres"'],
    [{ sidecar: { fields: { caller: 'Recording.Caller', extension: 'Recording.Ext' } } }, 'sidecar.fields.extension', 'unknown field "extension"'],
    [{ sidecar: { fields: { caller: 'Recording..Caller' } } }, 'sidecar.fields.caller', 'not a dotted path'],
    [{ sidecar: { extensions: ['xml'] } }, 'sidecar.extensions.0', 'starts with a dot'],
    [{ sidecar: { timeFormat: 'dd/MM/yyyy', colour: 'blue' } }, 'sidecar', 'colour'],
  ])('rejects %j at %s', (input, path, message) => {
    const result = metadataConfigSchema.safeParse(input);
    expect(result.success).toBe(false);
    const issue = result.error?.issues.find((i) => i.path.join('.') === path);
    expect(issue?.message).toContain(message);
  });

  it('lists every problem with its path when building an extractor', () => {
    const build = () => createMetadataExtractor({ timezone: 'Nowhere/Land', filename: { pattern: '(' } });
    expect(build).toThrow(ConfigError);
    expect(build).toThrow(/metadata\.filename\.pattern: not a valid regular expression: .*\/\(\/: Unterminated group/);
    expect(build).toThrow(/metadata\.timezone: unknown time zone "Nowhere\/Land"/);
    expect(() => parseMetadataConfig({ sidecar: { fields: { foo: 'x' } } })).toThrow(/metadata\.sidecar\.fields\.foo: unknown field "foo"/);
  });
});

describe('sidecars', () => {
  it('reads the demo XML with the default config', () => {
    const { meta, issues } = run({}, { fileName: '000001007.wav', sidecar: { name: '000001007.xml', bytes: bytes(demoXml) } });
    expect(issues).toEqual([]);
    expect(meta).toEqual(demoMeta);
  });

  it('reads JSON with numbers and nested objects', () => {
    const json = { Recording: { CallId: 12345, StartTime: '2024-01-15T08:00:00Z', Duration: 30, Agent: 'Bilal Khan', Caller: '2041', Called: '2042', Direction: 'Int', Codec: 'G711A' } };
    const { meta, issues } = run({}, { fileName: 'x.wav', sidecar: { name: 'x.json', bytes: bytes(JSON.stringify(json)) } });
    expect(issues).toEqual([]);
    expect(meta).toEqual({ callId: '12345', start: '2024-01-15T08:00:00.000Z', end: '2024-01-15T08:00:30.000Z', durationSec: 30, agent: 'Bilal Khan', caller: '2041', called: '2042', direction: 'internal', codec: 'G711A' });
  });

  it('reads XML attributes, nested paths, array items and text beside attributes', () => {
    const xml = `<Call id="c-99" dir="O">
      <Times><Start>2024-02-10 14:00:00</Start><Stop>2024-02-10 14:02:30</Stop></Times>
      <Parties><Party role="from"><Number>+33 1 23 45 67 89</Number></Party><Party role="to"><Number>tel:+1-202-555-0100</Number></Party></Parties>
      <Agent><Name>Chloé Dubois</Name></Agent>
      <Codec rate="8000">G.729</Codec>
    </Call>`;
    const config = {
      timezone: 'Europe/Paris',
      sidecar: {
        fields: {
          callId: 'Call.@_id',
          direction: 'Call.@_dir',
          start: 'Call.Times.Start',
          end: 'Call.Times.Stop',
          caller: 'Call.Parties.Party.0.Number',
          called: 'Call.Parties.Party.1.Number',
          agent: 'Call.Agent.Name',
          codec: 'Call.Codec',
        },
      },
    };
    const { meta, issues } = run(config, { fileName: 'c-99.wav', sidecar: { name: 'c-99.xml', bytes: bytes(xml) } });
    expect(issues).toEqual([]);
    expect(meta).toEqual({
      callId: 'c-99',
      direction: 'outbound',
      start: '2024-02-10T13:00:00.000Z',
      end: '2024-02-10T13:02:30.000Z',
      durationSec: 150,
      caller: '+33123456789',
      called: '+12025550100',
      agent: 'Chloé Dubois',
      codec: 'G.729',
    });
  });

  it('reads UTF-8 with a BOM and UTF-16LE (Windows recorders)', () => {
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(demoXml, 'utf8')]);
    expect(run({}, { fileName: 'a.wav', sidecar: { name: 'a.xml', bytes: bom } }).meta).toEqual(demoMeta);
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(demoXml.replace('UTF-8', 'UTF-16'), 'utf16le')]);
    expect(run({}, { fileName: 'a.wav', sidecar: { name: 'a.xml', bytes: utf16 } }).meta).toEqual(demoMeta);
  });

  it('reads a sidecar in the encoding its XML declaration names (ISO-8859-1, windows-1252), accented agent names whole', () => {
    const latin1 = Buffer.from(demoXml.replace('UTF-8', 'ISO-8859-1'), 'latin1');
    const result = run({}, { fileName: 'a.wav', sidecar: { name: 'a.xml', bytes: latin1 } });
    expect(result.meta).toEqual(demoMeta);
    expect(result.issues).toEqual([]);
    const cp1252 = Buffer.from(demoXml.replace('UTF-8', 'windows-1252').replace('Siobhán', 'Hélène Müller'), 'latin1');
    expect(run({}, { fileName: 'a.wav', sidecar: { name: 'a.xml', bytes: cp1252 } }).meta.agent).toBe("Hélène Müller O'Neill");
  });

  it('reads a sidecar declared ISO-8859-1 whose bytes are UTF-8 as UTF-8, accented names whole, and names it in the issues', () => {
    const utf8 = Buffer.from(demoXml.replace('UTF-8', 'ISO-8859-1').replace('Siobhán', 'Hélène Müller'), 'utf8');
    const result = run({}, { fileName: 'a.wav', sidecar: { name: 'a.xml', bytes: utf8 } });
    expect(result.meta.agent).toBe("Hélène Müller O'Neill");
    expect(result.issues).toEqual(['a.xml: sidecar declares encoding "ISO-8859-1" but its bytes are UTF-8; read as UTF-8']);
  });

  it('reads UTF-16 without a byte order mark by the document starting with <', () => {
    const le = Buffer.from(demoXml.replace('UTF-8', 'UTF-16'), 'utf16le');
    expect(run({}, { fileName: 'a.wav', sidecar: { name: 'a.xml', bytes: le } }).meta).toEqual(demoMeta);
    const be = Buffer.from(le).swap16();
    expect(run({}, { fileName: 'a.wav', sidecar: { name: 'a.xml', bytes: be } }).meta).toEqual(demoMeta);
  });

  it('reads bytes that are not UTF-8 under no other declared encoding as windows-1252, and names it in the issues', () => {
    const undeclared = Buffer.from(demoXml.replace(' encoding="UTF-8"', ''), 'latin1');
    const result = run({}, { fileName: 'a.wav', sidecar: { name: 'a.xml', bytes: undeclared } });
    expect(result.meta.agent).toBe("Siobhán O'Neill");
    expect(result.issues).toEqual(['a.xml: sidecar names no encoding and is not valid UTF-8; read as windows-1252']);
  });

  it('names what a sidecar holds when none of the configured fields is in it (a recorder that renamed its elements)', () => {
    const v2 = `<?xml version="1.0" encoding="UTF-8"?>\n<Recording version="2">\n  <Call id="c1">\n    <Started>2024-07-01T10:15:00Z</Started>\n    <AgentName>Ann</AgentName>\n  </Call>\n</Recording>\n`;
    const result = run({ sidecar: { fields: { callId: 'Recording.CallId', start: 'Recording.StartTime' } } }, { fileName: 'a.wav', sidecar: { name: 'a.xml', bytes: bytes(v2) } });
    expect(result.meta).toEqual({ end: MTIME.toISOString() });
    expect(result.issues).toContain('a.xml: none of the configured fields is in the sidecar (metadata.sidecar.fields: Recording.CallId, Recording.StartTime); it holds Recording.Call.Started, Recording.Call.AgentName, Recording.Call.@_id, Recording.@_version');
  });

  it('sniffs the document kind when the extension does not say', () => {
    const cfg = { sidecar: { extensions: ['.meta'] } };
    expect(run(cfg, { fileName: 'a.wav', sidecar: { name: 'a.meta', bytes: bytes(demoXml) } }).meta).toEqual(demoMeta);
    const json = JSON.stringify({ Recording: { CallId: 'j1' } });
    expect(run(cfg, { fileName: 'a.wav', sidecar: { name: 'a.meta', bytes: bytes(json) } }).meta.callId).toBe('j1');
  });

  it('finds the sidecar among siblings: configured order, any case, never the file itself', () => {
    const ex = createMetadataExtractor({});
    expect(ex.sidecarNameFor('a.wav', new Set(['a.wav', 'a.json', 'a.xml']))).toBe('a.xml');
    expect(ex.sidecarNameFor('a.wav', new Set(['a.wav', 'a.json']))).toBe('a.json');
    expect(ex.sidecarNameFor('A B.WAV', new Set(['A B.WAV', 'A B.XML']))).toBe('A B.XML');
    expect(ex.sidecarNameFor('appel-élève 1.wav', new Set(['appel-élève 1.xml']))).toBe('appel-élève 1.xml');
    expect(ex.sidecarNameFor('a.wav', new Set(['a.wav', 'b.xml', 'a.wav.xml']))).toBeUndefined();
    expect(ex.sidecarNameFor('noext', new Set(['noext.xml']))).toBe('noext.xml');
    expect(createMetadataExtractor({ sidecar: false }).sidecarNameFor('a.wav', new Set(['a.xml']))).toBeUndefined();
  });
});

describe('file names', () => {
  const filename = {
    pattern: '^(?<callId>[^_]+)_(?<start>\\d{8}T\\d{6})_(?<caller>\\+?\\d+)_(?<called>\\+?\\d+)\\.wav$',
    startFormat: 'yyyyMMddTHHmmss',
  };

  it('reads fields from named groups, times in the configured zone', () => {
    const winter = run({ filename, timezone: 'Europe/London' }, { fileName: 'C17_20240115T093000_+441632960123_2001.wav' });
    expect(winter).toEqual({ meta: { callId: 'C17', start: '2024-01-15T09:30:00.000Z', caller: '+441632960123', called: '2001' }, issues: [] });
    const summer = run({ filename, timezone: 'Europe/London' }, { fileName: 'C18_20240715T093000_+441632960123_2001.wav' });
    expect(summer.meta.start).toBe('2024-07-15T08:30:00.000Z');
  });

  it("reads a local time of the hour the clocks go back as the occurrence at or before the file's time, and one of the hour they skip as moved forward, saying so in the issues", () => {
    // 29 Oct 2028, Europe/London: 01:00–02:00 happens twice (BST, then GMT).
    const first = run({ filename, timezone: 'Europe/London' }, { fileName: 'C1_20281029T012000_+441632960123_2001.wav', mtime: new Date('2028-10-29T00:20:05Z') });
    expect(first.meta.start).toBe('2028-10-29T00:20:00.000Z');
    const second = run({ filename, timezone: 'Europe/London' }, { fileName: 'C2_20281029T014000_+441632960123_2001.wav', mtime: new Date('2028-10-29T01:40:05Z') });
    expect(second.meta.start).toBe('2028-10-29T01:40:00.000Z');
    expect(second.issues).toEqual(['C2_20281029T014000_+441632960123_2001.wav: start "20281029T014000" is in the hour the clocks went back (Europe/London): read as 2028-10-29T01:40:00.000Z, the occurrence at or before the file\'s time']);
    // 26 Mar 2023: 01:00–02:00 does not exist.
    const skipped = run({ filename, timezone: 'Europe/London' }, { fileName: 'C3_20230326T013000_+441632960123_2001.wav', mtime: new Date('2023-03-26T01:31:00Z') });
    expect(skipped.meta.start).toBe('2023-03-26T01:30:00.000Z');
    expect(skipped.issues[0]).toMatch(/start "20230326T013000" does not exist in Europe\/London \(the hour the clocks skipped\): read as 2023-03-26T01:30:00.000Z$/);
    // An ordinary local time says nothing.
    expect(run({ filename, timezone: 'Europe/London' }, { fileName: 'C4_20281029T034000_+441632960123_2001.wav' }).issues).toEqual([]);
    // A 58-minute call across the change (01:03 BST → 01:01 GMT): start and end read so that it ends after it starts.
    const across = run({ timezone: 'Europe/London' }, { fileName: 'L7.wav', mtime: new Date('2028-10-29T01:01:05Z'), sidecar: { name: 'L7.xml', bytes: bytes('<Recording><StartTime>2028-10-29T01:03:00</StartTime><EndTime>2028-10-29T01:01:00</EndTime></Recording>') } });
    expect([across.meta.start, across.meta.end, across.meta.durationSec]).toEqual(['2028-10-29T00:03:00.000Z', '2028-10-29T01:01:00.000Z', 3480]);
    expect(across.issues).toContain('L7.wav: the call ran across the hour the clocks went back (Europe/London): read as 2028-10-29T00:03:00.000Z to 2028-10-29T01:01:00.000Z, so that it ends after it starts');
    expect(across.issues.filter((i) => i.includes('is before start'))).toEqual([]);
    // The file server's clock a few seconds behind the recorder's: the second occurrence still (not an hour early).
    const skewed = run({ filename, timezone: 'Europe/London' }, { fileName: 'C5_20281029T013300_+441632960123_2001.wav', mtime: new Date('2028-10-29T01:32:58Z') });
    expect(skewed.meta.start).toBe('2028-10-29T01:33:00.000Z');
  });

  it('accepts epoch seconds, ISO basic, and explicit offsets', () => {
    const epoch = { pattern: '^(?<callId>\\d+)-(?<start>\\d+)\\.wav$', startFormat: 'epoch' };
    expect(run({ filename: epoch, timezone: 'Asia/Tokyo' }, { fileName: '7-1700000000.wav' }).meta.start).toBe('2023-11-14T22:13:20.000Z');
    const iso = { pattern: '^(?<start>[^_]+)_(?<agent>.+)\\.wav$' };
    expect(run({ filename: iso, timezone: 'America/New_York' }, { fileName: '20240115T093000_Emma.wav' }).meta.start).toBe('2024-01-15T14:30:00.000Z');
    expect(run({ filename: iso, timezone: 'America/New_York' }, { fileName: '20240115T093000Z_Emma.wav' }).meta.start).toBe('2024-01-15T09:30:00.000Z');
    const withOffset = { pattern: '^(?<start>.+)\\.wav$', startFormat: "yyyy-MM-dd'_'HH.mm.ssXXX" };
    expect(run({ filename: withOffset, timezone: 'UTC' }, { fileName: '2024-01-15_09.30.00+0530.wav' }).meta.start).toBe('2024-01-15T04:00:00.000Z');
  });

  it('names a file that does not match, and a time that is not one', () => {
    expect(run({ filename }, { fileName: 'garbage.wav' }).issues).toEqual([
      'garbage.wav: file name does not match the configured pattern',
      "garbage.wav: no start or end time; end taken from the file's mtime",
    ]);
    const { meta, issues } = run({ filename }, { fileName: 'C1_20240231T093000_1_2.wav' });
    expect(issues).toContain('C1_20240231T093000_1_2.wav: start "20240231T093000" is not a time');
    expect(meta.callId).toBe('C1');
  });

  it('with a case-insensitive flag', () => {
    const f = { pattern: '^(?<callId>\\w+)\\.wav$', flags: 'i' };
    expect(run({ filename: f, sidecar: false }, { fileName: 'ABC.WAV' }).meta.callId).toBe('ABC');
  });
});

describe('time zones and DST', () => {
  it('computes offsets with Intl', () => {
    expect(timeZoneOffsetMs(Date.parse('2024-01-15T12:00:00Z'), 'Europe/London')).toBe(0);
    expect(timeZoneOffsetMs(Date.parse('2024-07-15T12:00:00Z'), 'Europe/London')).toBe(3_600_000);
    expect(timeZoneOffsetMs(Date.parse('2024-07-15T12:00:00Z'), 'America/New_York')).toBe(-4 * 3_600_000);
    expect(timeZoneOffsetMs(Date.parse('2024-07-15T12:00:00.999Z'), 'Asia/Kolkata')).toBe(5.5 * 3_600_000);
    expect(timeZoneOffsetMs(Date.parse('2024-07-15T12:00:00Z'), 'Australia/Lord_Howe')).toBe(10.5 * 3_600_000);
  });

  it('reads a wall time around both London changes (2024-03-31 and 2024-10-27)', () => {
    const at = (wall: string) => new Date(wallTimeToInstant(Date.parse(`${wall}Z`), 'Europe/London')).toISOString();
    expect(at('2024-03-31T00:59:59')).toBe('2024-03-31T00:59:59.000Z');
    // 01:30 does not exist: clocks jump 01:00 → 02:00; it is read as 02:30 BST (moved forward).
    expect(at('2024-03-31T01:30:00')).toBe('2024-03-31T01:30:00.000Z');
    expect(at('2024-03-31T02:00:00')).toBe('2024-03-31T01:00:00.000Z');
    // 01:30 happens twice: the earlier (BST) instant is taken.
    expect(at('2024-10-27T01:30:00')).toBe('2024-10-27T00:30:00.000Z');
    expect(at('2024-10-27T02:00:00')).toBe('2024-10-27T02:00:00.000Z');
    expect(at('2024-10-27T00:59:00')).toBe('2024-10-26T23:59:00.000Z');
  });

  it('applies the zone to sidecar times without an offset only', () => {
    const xml = (start: string, end: string) => bytes(`<Recording><StartTime>${start}</StartTime><EndTime>${end}</EndTime></Recording>`);
    const cfg = { timezone: 'America/New_York', sidecar: { fields: { start: 'Recording.StartTime', end: 'Recording.EndTime' } } };
    // A call across the US spring change (2024-03-10 02:00 → 03:00): 01:59 EST to 03:01 EDT is 2 minutes.
    const r = run(cfg, { fileName: 'a.wav', sidecar: { name: 'a.xml', bytes: xml('2024-03-10 01:59:00', '2024-03-10T03:01:00') } });
    expect(r).toEqual({ meta: { start: '2024-03-10T06:59:00.000Z', end: '2024-03-10T07:01:00.000Z', durationSec: 120 }, issues: [] });
    const explicit = run(cfg, { fileName: 'a.wav', sidecar: { name: 'a.xml', bytes: xml('2024-03-10T01:59:00Z', '2024-03-10T02:01:00.5+00:00') } });
    expect(explicit.meta).toEqual({ start: '2024-03-10T01:59:00.000Z', end: '2024-03-10T02:01:00.500Z', durationSec: 120.5 });
  });

  it('formats an instant with its zone offset (the demo writes sidecars with it)', () => {
    expect(formatIsoWithOffset(new Date('2024-07-01T09:15:00Z'), 'Europe/London')).toBe('2024-07-01T10:15:00+01:00');
    expect(formatIsoWithOffset(new Date('2024-01-01T09:15:00.25Z'), 'America/New_York')).toBe('2024-01-01T04:15:00.250-05:00');
    expect(formatIsoWithOffset(new Date('2024-01-01T09:15:00Z'), 'UTC')).toBe('2024-01-01T09:15:00+00:00');
  });
});

describe('normalisation', () => {
  const one = (field: string, value: string) => {
    const cfg = { sidecar: { fields: { [field]: 'R.V' } } };
    return run(cfg, { fileName: 'f.wav', sidecar: { name: 'f.xml', bytes: bytes(`<R><V>${value}</V></R>`) } });
  };

  it.each([
    ['in', 'inbound'], ['Inbound', 'inbound'], ['INCOMING', 'inbound'], ['I', 'inbound'],
    ['out', 'outbound'], ['Outbound', 'outbound'], ['outgoing', 'outbound'], ['o', 'outbound'],
    ['internal', 'internal'], ['Int', 'internal'], ['unknown', 'unknown'],
  ])('direction %s → %s', (value, direction) => {
    expect(one('direction', value).meta.direction).toBe(direction);
  });

  it.each([
    ['  +44 20 7946 0000 ', '+442079460000'],
    ['+44 (0)20 7946-0000', '+442079460000'],
    ['(202) 555.0100', '2025550100'],
    ['tel:+15550100', '+15550100'],
    ['*86', '*86'],
    [' Anonymous ', 'Anonymous'],
  ])('number %j → %j', (value, expected) => {
    expect(one('caller', value).meta.caller).toBe(expected);
  });

  it.each([
    ['65', 65], ['65.125', 65.125], ['01:05', 65], ['1:01:05', 3665], ['PT1M5.5S', 65.5], ['135:20', 8120],
  ])('duration %s → %d s', (value, seconds) => {
    expect(one('durationSec', value).meta.durationSec).toBe(seconds);
  });

  it('derives the third of start, end and duration', () => {
    const x = (inner: string) => bytes(`<Recording>${inner}</Recording>`);
    const cfg = {};
    const fromDuration = run(cfg, { fileName: 'a.wav', sidecar: { name: 'a.xml', bytes: x('<StartTime>2024-05-01T10:00:00Z</StartTime><Duration>90.5</Duration>') } });
    expect(fromDuration.meta).toMatchObject({ start: '2024-05-01T10:00:00.000Z', end: '2024-05-01T10:01:30.500Z', durationSec: 90.5 });
    const fromEnd = run(cfg, { fileName: 'a.wav', sidecar: { name: 'a.xml', bytes: x('<EndTime>2024-05-01T10:01:30Z</EndTime><Duration>90</Duration>') } });
    expect(fromEnd.meta).toMatchObject({ start: '2024-05-01T10:00:00.000Z', durationSec: 90 });
  });

  it("keeps the call's own start and end over a duration that disagrees with them (written in milliseconds), saying so; a second's rounding is agreement", () => {
    const x = (inner: string) => bytes(`<Recording>${inner}</Recording>`);
    const ms = run({}, { fileName: 'a.wav', sidecar: { name: 'a.xml', bytes: x('<StartTime>2026-07-15T09:00:00Z</StartTime><EndTime>2026-07-15T09:04:31Z</EndTime><Duration>271000</Duration>') } });
    expect(ms.meta.durationSec).toBe(271);
    expect(ms.issues).toContain('a.wav: duration 271000 s disagrees with its start and end (271 s apart): the times are kept');
    const rounded = run({}, { fileName: 'a.wav', sidecar: { name: 'a.xml', bytes: x('<StartTime>2026-07-15T09:00:00Z</StartTime><EndTime>2026-07-15T09:04:31Z</EndTime><Duration>272</Duration>') } });
    expect(rounded.meta.durationSec).toBe(272);
    expect(rounded.issues.filter((i) => i.includes('disagrees'))).toEqual([]);
  });

  it('does not count a codec the recorder does not write as a metadata issue (every call would be marked)', () => {
    const x = (inner: string) => bytes(`<Recording>${inner}</Recording>`);
    const r = run({}, { fileName: 'a.wav', sidecar: { name: 'a.xml', bytes: x('<CallId>1</CallId><StartTime>2026-07-15T09:00:00Z</StartTime><EndTime>2026-07-15T09:01:00Z</EndTime><Agent>A</Agent><Caller>1</Caller><Called>2</Called><Direction>inbound</Direction>') } });
    expect(r.issues).toEqual([]);
  });
});

describe('bad data gives named issues, never an exception', () => {
  const x = (inner: string) => ({ name: 'call-17.xml', bytes: bytes(`<Recording>${inner}</Recording>`) });

  it('a start that is not a time', () => {
    const { meta, issues } = run({}, { fileName: 'call-17.wav', sidecar: x('<CallId>17</CallId><StartTime>31/02/2024</StartTime><EndTime>2024-02-29T10:00:00Z</EndTime>') });
    expect(issues).toContain('call-17.xml: start "31/02/2024" is not a time');
    expect(meta.start).toBeUndefined();
    expect(issues.filter((i) => i.includes('start'))).toHaveLength(1);
  });

  it.each([
    ['<StartTime>2024-02-30T10:00:00Z</StartTime>', 'call-17.xml: start "2024-02-30T10:00:00Z" is not a time'],
    ['<EndTime>2024-01-01T25:00:00</EndTime>', 'call-17.xml: end "2024-01-01T25:00:00" is not a time'],
    ['<EndTime>2024-01-01T10:00:00+25:00</EndTime>', 'call-17.xml: end "2024-01-01T10:00:00+25:00" is not a time'],
    ['<Duration>-3</Duration>', 'call-17.xml: durationSec "-3" is not a duration'],
    ['<Duration>long</Duration>', 'call-17.xml: durationSec "long" is not a duration'],
    ['<Direction>sideways</Direction>', 'call-17.xml: direction "sideways" is not a direction (inbound, outbound, internal)'],
    ['<Agent><First>A</First><Last>B</Last></Agent>', 'call-17.xml: agent at Recording.Agent is not a single value'],
    ['<CallId>1</CallId>', 'call-17.xml: agent is missing'],
    ['<CallId>   </CallId>', 'call-17.xml: callId is missing'],
    ['<StartTime>2024-01-01T10:00:00Z</StartTime><EndTime>2024-01-01T09:00:00Z</EndTime>', 'call-17.wav: end 2024-01-01T09:00:00.000Z is before start 2024-01-01T10:00:00.000Z'],
  ])('%s', (inner, issue) => {
    expect(run({}, { fileName: 'call-17.wav', sidecar: x(inner) }).issues).toContain(issue);
  });

  it('a sidecar that is not XML or not JSON gives one issue', () => {
    const xml = run({}, { fileName: 'call-17.wav', sidecar: { name: 'call-17.xml', bytes: bytes('<Recording><CallId>1</Recording>') } });
    expect(xml.issues.filter((i) => i.startsWith('call-17.xml'))).toEqual([expect.stringMatching(/^call-17\.xml: sidecar is not valid XML \(.+ at line 1\)$/)]);
    const json = run({}, { fileName: 'call-17.wav', sidecar: { name: 'call-17.json', bytes: bytes('{"Recording": ') } });
    expect(json.issues.filter((i) => i.startsWith('call-17.json'))).toEqual([expect.stringMatching(/^call-17\.json: sidecar is not valid JSON/)]);
    // With no time at all the mtime stands in for the end, and says so.
    expect(json.meta).toEqual({ end: MTIME.toISOString() });
    expect(json.issues).toContain("call-17.wav: no start or end time; end taken from the file's mtime");
  });

  it('a call dated before 2001 (a recorder clock not set) is catalogued at when the agent read it, the time it had named', () => {
    const readAt = new Date('2026-12-05T19:30:00Z');
    const epoch = run({}, { fileName: 'rtc.wav', mtime: new Date(60_000), readAt });
    expect(epoch.meta).toEqual({ start: '2026-12-05T19:30:00.000Z' });
    expect(epoch.issues).toContain(
      'rtc.wav: its time 1970-01-01T00:01:00.000Z is before 2001: the recorder\'s clock was not set; catalogued at 2026-12-05T19:30:00.000Z, when the agent read it (retention counts from then)',
    );
    const sidecar = bytes('{"Recording": {"StartTime": "2000-01-01T00:05:00Z", "Duration": 90}}');
    const y2k = run({}, { fileName: 'y2k.wav', readAt, sidecar: { name: 'y2k.json', bytes: sidecar } });
    expect(y2k.meta).toMatchObject({ start: '2026-12-05T19:30:00.000Z', end: '2026-12-05T19:31:30.000Z', durationSec: 90 });
    // A call of 2001 or later keeps its own time.
    expect(run({}, { fileName: 'ok.wav', mtime: new Date('2001-01-01T00:00:00Z'), readAt }).meta).toEqual({ end: '2001-01-01T00:00:00.000Z' });
  });

  it('names a start hours after the file was last written (local times read in the wrong zone), and not a few seconds of clock skew', () => {
    const xml = (start: string) => bytes(`<Recording><StartTime>${start}</StartTime><EndTime>2026-12-05T10:35:00</EndTime></Recording>`);
    const written = new Date('2026-12-05T05:05:00Z'); // a Kolkata call of 10:30–10:35 IST
    const asUtc = run({}, { fileName: 'k1.wav', mtime: written, sidecar: { name: 'k1.xml', bytes: xml('2026-12-05T10:30:00') } });
    expect(asUtc.meta.start).toBe('2026-12-05T10:30:00.000Z');
    expect(asUtc.issues).toContain("k1.wav: start 2026-12-05T10:30:00.000Z is 5.4 h after the file was last written (2026-12-05T05:05:00.000Z): the recorder's clock or metadata.timezone (UTC) is wrong");
    const inZone = run({ timezone: 'Asia/Kolkata' }, { fileName: 'k1.wav', mtime: written, sidecar: { name: 'k1.xml', bytes: xml('2026-12-05T10:30:00') } });
    expect(inZone.meta.start).toBe('2026-12-05T05:00:00.000Z');
    const clockIssues = (issues: string[]) => issues.filter((i) => i.includes('last written'));
    expect(clockIssues(inZone.issues)).toEqual([]);
    // A recorder a few seconds ahead of the file server is no issue.
    const skew = run({ timezone: 'Asia/Kolkata' }, { fileName: 'k2.wav', mtime: new Date('2026-12-05T04:59:58Z'), sidecar: { name: 'k2.xml', bytes: xml('2026-12-05T10:30:00') } });
    expect(clockIssues(skew.issues)).toEqual([]);
  });

  it('a missing sidecar is named when it is the only source', () => {
    expect(run({}, { fileName: 'lonely.wav' }).issues).toEqual(['lonely.wav: no sidecar (.xml, .json)', "lonely.wav: no start or end time; end taken from the file's mtime"]);
  });

  it('survives arbitrary bytes', () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    const ex = createMetadataExtractor({});
    for (let n = 0; n < 200; n++) {
      const junk = Uint8Array.from({ length: 1 + (n % 60) }, rnd);
      for (const name of ['j.xml', 'j.json']) {
        const r = ex.extract({ fileName: 'j.wav', relativePath: 'b/j.wav', mtime: MTIME, sidecar: { name, bytes: junk } });
        expect(callMetadataSchema.safeParse(r.meta).success).toBe(true);
      }
    }
  });
});

describe('precedence', () => {
  const filename = { pattern: '^(?<callId>[^_]+)_(?<start>\\d{8}T\\d{6})_(?<caller>\\+?\\d+)\\.wav$', startFormat: 'yyyyMMddTHHmmss' };
  const name = 'F1_20240115T093000_+441632960999.wav';

  it('sidecar values win; the file name fills what the sidecar lacks', () => {
    const sidecar = { name: 'F1.xml', bytes: bytes('<Recording><CallId>S1</CallId><Caller>+441632960123</Caller><Agent>Emma Walsh</Agent><Duration>10</Duration></Recording>') };
    const cfg = { filename, sidecar: { fields: { callId: 'Recording.CallId', caller: 'Recording.Caller', agent: 'Recording.Agent', durationSec: 'Recording.Duration' } } };
    const { meta, issues } = run(cfg, { fileName: name, sidecar });
    expect(issues).toEqual([]);
    expect(meta).toEqual({ callId: 'S1', caller: '+441632960123', agent: 'Emma Walsh', start: '2024-01-15T09:30:00.000Z', end: '2024-01-15T09:30:10.000Z', durationSec: 10 });
  });

  it('a bad sidecar value is reported and the file-name value used', () => {
    const sidecar = { name: 'F1.xml', bytes: bytes('<Recording><StartTime>yesterday</StartTime></Recording>') };
    const { meta, issues } = run({ filename, sidecar: { fields: { start: 'Recording.StartTime' } } }, { fileName: name, sidecar });
    expect(meta.start).toBe('2024-01-15T09:30:00.000Z');
    expect(issues).toEqual(['F1.xml: start "yesterday" is not a time']);
  });

  it('no sidecar with a file-name pattern is not an issue', () => {
    expect(run({ filename }, { fileName: name }).issues).toEqual([]);
  });
});
