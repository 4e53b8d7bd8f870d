// The audit trail of the chosen site: filter by time, principal and action, page through it
// with the API's cursor, and export the same filters as CSV (the API writes the CSV).

import { refusalText } from './console-api.js';
import { $, busy, cell, checkRange, clearError, el, giveFocusBack, showError, timeEl } from './console-ui.js';
import { fieldInstant } from './console-zone.js';

const PAGE = 50;
/** Reads of the trail one page may make while the filters match nothing yet (each reads at most 2,000 records). */
const EMPTY_READS = 10;
/** Records a CSV export asks for at once (the API's largest page). */
const CSV_PAGE = 1000;
const audit = { ctx: undefined, filters: undefined, cursors: [null], index: 0, site: undefined };

/** The audit trail's path at `site` (not the site shown when it is asked: another may be chosen meanwhile). */
const auditPath = (site) => `sites/${encodeURIComponent(site)}/audit`;

/** Forgets what the view read (sign-out): the next officer's session reads the trail again. */
export function forgetAudit() {
  audit.filters = undefined;
  audit.cursors = [null];
  audit.index = 0;
  audit.site = undefined;
  clearTable();
}

function clearTable() {
  $('audit').tBodies[0].replaceChildren();
  $('audit-page').textContent = '';
  $('audit-status').textContent = '';
}

function readFilters() {
  const filters = {};
  const from = fieldInstant('From', $('audit-from'));
  const to = fieldInstant('To', $('audit-to'), { last: true });
  checkRange($('audit-from'), $('audit-to'), from, to);
  if (from) filters.from = from;
  if (to) filters.to = to;
  const principal = $('audit-principal').value.trim();
  if (principal) filters.principal = principal;
  if ($('audit-action').value) filters.action = $('audit-action').value;
  return filters;
}

function detailsText(item) {
  const parts = [];
  for (const value of [item.query, item.details ?? item.detail]) {
    if (value === undefined || value === null) continue;
    parts.push(typeof value === 'string' ? value : Object.entries(value).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : typeof v === 'object' ? JSON.stringify(v) : v}`).join('; '));
  }
  return parts.join(' · ');
}

/**
 * The details of a record; one naming more members than a page shows (a purge of a pack of
 * 20,000 calls) says which lists are cut and offers the whole record as a download, read from
 * the API in pages of its members.
 */
function detailsContent(item) {
  const text = detailsText(item);
  if (!item.members) return text;
  const cut = Object.entries(item.members).map(([name, m]) => `${name}: first ${m.shown} of ${m.total}`).join('; ');
  const span = el('span', `${text} · (${cut})`);
  const button = el('button', 'Download the whole record', { type: 'button', className: 'audit-whole' });
  button.addEventListener('click', () => {
    clearError();
    void busy(button, 'Reading…', () => downloadRecord(audit.ctx, item.seq)).catch((error) => showError(refusalText('Reading the whole record', error)));
  });
  span.append(' ', button);
  return span;
}

/** Record `seq` whole, as JSON: its lists read page after page (`?seq=…&offset=…`), then downloaded. */
async function downloadRecord(ctx, seq) {
  // The record of the site whose trail shows it, whatever is chosen while it is read; not downloaded once the officer signed out.
  const [site, signOuts] = [ctx.site(), ctx.signOuts()];
  let whole;
  for (let offset = 0; offset !== null; ) {
    const page = await ctx.api(auditPath(site), { query: { seq, offset } });
    if (signOuts !== ctx.signOuts()) return;
    if (!whole) whole = { ...page.item, details: { ...page.item.details } };
    else for (const name of Object.keys(page.item.members ?? {})) whole.details[name] = [...whole.details[name], ...page.item.details[name]];
    offset = page.next;
  }
  delete whole.members;
  const a = el('a', '', { href: URL.createObjectURL(new Blob([JSON.stringify(whole, null, 2)], { type: 'application/json' })), download: `audit-${site}-${seq}.json` });
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

async function loadPage(index) {
  const { ctx } = audit;
  const mine = audit.filters;
  const status = $('audit-status');
  status.textContent = 'Reading the trail…';
  $('audit-prev').disabled = true;
  $('audit-next').disabled = true;
  try {
    // A page of the API reads at most 2,000 records of the trail: with filters that match few, a
    // page can come back empty with more to read. It is read on (a few times) rather than shown
    // as "no records match".
    let cursor = audit.cursors[index];
    let page;
    for (let reads = 1; ; reads++) {
      page = await ctx.api(ctx.sitePath('audit'), { query: { ...audit.filters, limit: PAGE, ...(cursor ? { cursor } : {}) } });
      if (mine !== audit.filters) return;
      if (page.items.length > 0 || !page.cursor || reads >= EMPTY_READS) break;
      cursor = page.cursor;
      status.textContent = `Reading the trail… (${reads * 2000} records read, none matching yet)`;
    }
    audit.index = index;
    audit.cursors[index + 1] = page.cursor ?? null;
    const tbody = $('audit').tBodies[0];
    tbody.replaceChildren();
    for (const item of page.items) {
      const row = tbody.insertRow();
      row.dataset.action = item.action;
      cell(row, timeEl(item.at));
      // A deletion the purge began whose outcome is not recorded yet: said on the row (the next purge records it).
      cell(row, el('span', item.open ? `${item.action} (open: outcome not recorded yet)` : item.action, { className: `action action-${item.action}`, ...(item.open ? { title: 'the purge named this object before deleting it and has not recorded the outcome yet; the next purge records what became of it' } : {}) }));
      cell(row, item.principal, 'wrap');
      cell(row, item.officer);
      cell(row, item.rid ? el('a', item.rid, { href: `#${new URLSearchParams({ site: ctx.site(), view: 'call', rid: item.rid })}` }) : '');
      cell(row, item.case);
      cell(row, detailsContent(item), 'wrap details-cell');
    }
    const more = Boolean(page.cursor);
    const n = page.items.length;
    const none = more ? 'None found yet in the records read so far; older records remain: press Next page to read on.' : index === 0 ? 'No records match these filters.' : 'No more records.';
    status.textContent = n === 0 ? none : `${n} record${n === 1 ? '' : 's'} on page ${index + 1}${more ? ', more available' : ''}.`;
    $('audit-page').textContent = n ? `Page ${index + 1}` : '';
    $('audit-prev').disabled = index === 0;
    $('audit-next').disabled = !more;
  } catch (error) {
    if (mine !== audit.filters) return;
    // Rows of an earlier search must not stand under these filters.
    clearTable();
    status.textContent = 'The trail could not be read.';
    showError(refusalText('Reading the audit trail', error));
  }
}

function search(event) {
  event?.preventDefault();
  clearError();
  try {
    audit.filters = readFilters();
  } catch (error) {
    audit.filters = undefined;
    clearTable();
    // A field that says what is wrong (From after To) has the focus and the message already.
    if (!error.atField) showError(error.message);
    return Promise.resolve();
  }
  audit.cursors = [null];
  audit.site = audit.ctx.site();
  return loadPage(0);
}

async function exportCsv() {
  clearError();
  const { ctx } = audit;
  let filters;
  try {
    filters = readFilters();
  } catch (error) {
    if (!error.atField) showError(error.message);
    return;
  }
  // The trail of the site shown as it was asked for, whatever is chosen while it is read (another site, another view).
  const site = ctx.site();
  try {
    await busy($('audit-csv'), 'Exporting…', () => writeCsv(ctx, site, filters));
  } catch (error) {
    if (csvShown(site)) showError(refusalText('The CSV export', error));
  }
}

/** Whether the audit view still shows `site`'s trail: what a CSV export of it says goes there only then. */
const csvShown = (site) => audit.site === site && audit.ctx.view() === 'audit';

/** Says `text` in the audit view's status line while it shows `site`'s trail. */
function csvStatus(site, text) {
  if (csvShown(site)) $('audit-status').textContent = text;
}

/** Every record the filters match at `site` as one CSV file, downloaded (unless the officer signed out meanwhile). */
async function writeCsv(ctx, site, filters) {
  const signOuts = ctx.signOuts();
  const path = auditPath(site);
  // Every record the filters match: page after page (the next one named in X-Ferry-Cursor),
  // the header line once.
  const parts = [];
  let records = 0;
  let cursor;
  do {
    const response = await ctx.api(path, { query: { ...filters, format: 'csv', limit: CSV_PAGE, ...(cursor ? { cursor } : {}) }, accept: 'text/csv' });
    const text = await response.text();
    const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
    if (parts.length === 0) parts.push(`${lines[0]}\n`);
    const body = lines.slice(1).join('\n');
    if (body) {
      parts.push(`${body}\n`);
      records += lines.length - 1;
    }
    cursor = response.headers.get('X-Ferry-Cursor') || undefined;
    csvStatus(site, `Exporting the trail as CSV… ${records} record${records === 1 ? '' : 's'} so far.`);
  } while (cursor && signOuts === ctx.signOuts());
  if (signOuts !== ctx.signOuts()) return;
  const blob = new Blob(parts, { type: 'text/csv' });
  csvStatus(site, `Exported ${records} record${records === 1 ? '' : 's'} as CSV.`);
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const a = el('a', '', { href: URL.createObjectURL(blob), download: `audit-${site}-${stamp}.csv` });
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

let wired = false;

export async function openAudit(ctx) {
  audit.ctx = ctx;
  if (!wired) {
    wired = true;
    $('audit-form').addEventListener('submit', (e) => void search(e));
    // The pager's buttons are disabled while a page loads (as the search's are): the focus is given back.
    const page = (button, delta) => void loadPage(audit.index + delta).then(() => giveFocusBack(button, 'audit-results-title'));
    $('audit-prev').addEventListener('click', () => page($('audit-prev'), -1));
    $('audit-next').addEventListener('click', () => page($('audit-next'), 1));
    $('audit-csv').addEventListener('click', () => void exportCsv());
  }
  if (!audit.filters || audit.site !== ctx.site()) await search();
}
