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

/** The instants typed in the From/To fields, read in the zone shown until now (an unreadable one is left as typed). */
function typedInstants() {
  const out = [];
  for (const id of TIME_FIELDS) {
    const field = $(id);
    if (!field.value) continue;
    try {
      out.push([id, field.dataset.iso && field.value === field.dataset.wall ? field.dataset.iso : isoFromLocal(id, field.value)]);
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
