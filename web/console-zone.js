// The zone the console shows and reads times in: the browser's by default, or one the officer
// chooses (a London officer answering for a New York site's "call at 01:30"), named at the top of
// the page, in every column of times and in the From/To notes. The choice is kept in this tab's
// sessionStorage (it names no one); changing it keeps the instants typed in From/To and shows
// them, and every time on the page, in the new zone.

import { $ } from './console-ui.js';
import { browserZone, currentZoneName, isoFromLocal, setZone, wallText, zoneName } from './shared.js';

const ZONE_KEY = 'ferry-console-zone';
const TIME_FIELDS = ['from', 'to', 'audit-from', 'audit-to'];

/** Fills the zone list, applies the tab's kept choice, and calls `changed` after the officer picks another. */
export function wireZone(changed) {
  const select = $('time-zone');
  const own = browserZone();
  const zones = [...new Set([own, 'UTC', ...(Intl.supportedValuesOf?.('timeZone') ?? []).map(currentZoneName)])];
  select.replaceChildren(...zones.map((zone) => {
    const option = document.createElement('option');
    option.value = zone;
    option.textContent = zone === own ? `${zone} (this browser's)` : zone;
    return option;
  }));
  const kept = sessionStorage.getItem(ZONE_KEY);
  apply(kept && zones.includes(kept) ? kept : own);
  select.addEventListener('change', () => {
    const typed = typedInstants();
    apply(select.value);
    sessionStorage.setItem(ZONE_KEY, zoneName());
    for (const [id, iso] of typed) {
      const field = $(id);
      field.value = wallText(iso).replace(' ', 'T');
      Object.assign(field.dataset, { iso, wall: field.value });
    }
    changed();
  });
}

/**
 * The instant a From/To field stands for: the one it was filled with while it still shows that
 * (an address's, or one kept across a change of zone: a wall time of the hour the clocks go back
 * stands for two instants, and the one meant is kept), else its wall time read in the page's
 * zone (`last`: a To, its second occurrence).
 */
export function fieldInstant(label, field, options) {
  if (field.value && field.dataset.iso && field.value === field.dataset.wall) return field.dataset.iso;
  return isoFromLocal(label, field.value, options);
}

/** The instants typed in the From/To fields, read in the zone shown until now as a search would read them (an unreadable one is left as typed). */
function typedInstants() {
  const out = [];
  for (const id of TIME_FIELDS) {
    const field = $(id);
    if (!field.value) continue;
    try {
      out.push([id, fieldInstant(id, field, { last: id === 'to' || id === 'audit-to' })]);
    } catch {
      // Left as typed: the search says what is wrong with it.
    }
  }
  return out;
}

function apply(zone) {
  setZone(zone);
  $('time-zone').value = zoneName();
  $('zone').textContent = zoneName();
  // The zone in the header of every column of times: a screen reader says it with each cell, and a screenshot of the rows keeps it.
  for (const span of document.querySelectorAll('[data-zone]')) span.textContent = `(${zoneName()})`;
  for (const note of [$('zone-note'), $('audit-zone-note')]) {
    note.dataset.text ??= note.textContent;
    note.textContent = zoneName() === browserZone() ? note.dataset.text : note.dataset.text.replace('your time zone', `${zoneName()} time`);
  }
}
