import { describe, it, expect } from 'vitest';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { readPlainXml } from '../../core/sidecar-xml.ts';
import { sidecarDocument } from '../../scripts/demo/site.ts';
import type { CallMetadata } from '../../core/manifest.ts';

// The one-pass reader must give exactly what the validator and fast-xml-parser give (with
// core/metadata.ts's options) for the plain XML recorders write, and hand everything else back
// (undefined) to that general path: it must never accept a document the validator refuses.

const general = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
});

const meta: Required<CallMetadata> = {
  callId: 'c-0042',
  start: '2024-03-01T09:00:00.000Z',
  end: '2024-03-01T09:01:30.000Z',
  durationSec: 90,
  agent: 'Alice Smith',
  caller: '+441632960123',
  called: '201',
  direction: 'inbound',
  codec: 'pcm',
};
const demo = sidecarDocument('xml', meta, { fileName: 'call-0042.wav', extension: '201', timezone: 'Europe/London' });
const escaped = sidecarDocument('xml', { ...meta, agent: "Siobhán O'Neill & <Team>" }, { fileName: 'call-"0043".wav', extension: '201', timezone: 'Europe/London' });

const plain = [
  demo,
  '<a>1</a>',
  '<a/>',
  '<a x="1"/>',
  '<a x="1"></a>',
  "<a x='1'>  t  </a>",
  '<a><b>1</b><b>2</b><c/></a>',
  '<a><b x="1"/><b>2</b><b><c>3</c></b></a>',
  '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<r:Rec xmlns:r="urn:x" r:v="2">\n\t<r:Id>7</r:Id>\n</r:Rec>\n',
  '<Recording><Agent extension="201">Bob</Agent><Agent>Carol</Agent></Recording>',
  '<a>line one\n  line two</a>',
  escaped,
  '<a>Smith &amp; Co</a>',
  '<a x="A&amp;B&lt;&gt;&quot;&apos;">&lt;b&gt; &quot;q&quot;</a>',
  '<a>&amp;lt;</a>',
  '<a>  &amp;&amp;  </a>',
];

describe('plain sidecar XML read in one pass', () => {
  it.each(plain)('reads %j exactly as the validator and fast-xml-parser do', (text) => {
    expect(XMLValidator.validate(text)).toBe(true);
    const doc = readPlainXml(text);
    expect(doc).toBeDefined();
    expect(doc).toEqual(general.parse(text));
  });

  it.each([
    ['a character reference', '<a>O&#39;Neill</a>'],
    ['a hexadecimal character reference', '<a>&#x41;</a>'],
    ['an entity the parser does not know', '<a>&nbsp;</a>'],
    ['a predefined entity in other case', '<a>&AMP;</a>'],
    ['a bare ampersand in an attribute', '<a x="a & b">t</a>'],
    ['a comment', '<a><!-- c --></a>'],
    ['CDATA', '<a><![CDATA[x]]></a>'],
    ['a DOCTYPE', '<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>'],
    ['mixed text and elements', '<a>t<b>1</b></a>'],
    ['a processing instruction', '<a><?pi x?></a>'],
    ['a declaration not at the start', ' <?xml version="1.0"?><a/>'],
    ['a name that touches a prototype', '<__proto__><x>1</x></__proto__>'],
    ['an attribute the parser would trim', '<a x=" 1 ">t</a>'],
  ])('hands a document with %s to the general path', (_what, text) => {
    expect(readPlainXml(text)).toBeUndefined();
  });

  it.each([
    '<Recording><CallId>1</Recording>',
    '<Recording><CallId>1</CallId>',
    '<a>1</a><b>2</b>',
    '<a x=1>t</a>',
    '<a x="1" x="2">t</a>',
    '<a>1 < 2</a>',
    'junk',
    '<a><b></a></b>',
    '<a>t</a> trailing',
    '<1a>t</1a>',
    '<a></a',
    '<a>',
    '',
    '<a b>t</a>',
    '<a>t</A>',
    '<a x="1"y="2"/>',
    '<a>a & b</a>',
    '<a>&amp</a>',
  ])('refuses %j, which the validator refuses too', (text) => {
    expect(XMLValidator.validate(text)).not.toBe(true);
    expect(readPlainXml(text)).toBeUndefined();
  });

  it('never accepts a damaged document the validator refuses, and reads every one it accepts as the parser does', () => {
    let seed = 12345;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
    const alphabet = ['<', '>', '/', '"', "'", '=', ' ', 'a', '?', '\n', '!', '-', '&', ';', 'p', '#'];
    let accepted = 0;
    for (let n = 0; n < 3000; n++) {
      const base = plain[rnd(plain.length)] as string;
      let text = base;
      for (let k = 1 + rnd(3); k > 0; k--) {
        const at = rnd(text.length + 1);
        const op = rnd(3);
        const char = alphabet[rnd(alphabet.length)] as string;
        // Delete a character, insert one, or replace one.
        text = text.slice(0, at) + (op === 0 ? '' : char) + text.slice(op === 1 ? at : at + 1);
      }
      const doc = readPlainXml(text);
      if (doc === undefined) continue;
      accepted++;
      expect(XMLValidator.validate(text), text).toBe(true);
      expect(doc, text).toEqual(general.parse(text));
    }
    // The damage must leave some documents well formed, or the property says nothing.
    expect(accepted).toBeGreaterThan(100);
  });
});
