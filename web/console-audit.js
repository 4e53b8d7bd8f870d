// The audit trail of the chosen site: filter by time, principal and action, page through it
// with the API's cursor, and export the same filters as CSV (the API writes the CSV).

import { refusalText } from './console-api.js';
import { $, cell, clearError, el, showError, timeEl } from './console-ui.js';
import { isoFromLocal } from './shared.js';

const PAGE = 50;
const audit = { ctx: undefined, filters: undefined, cursors: [null], index: 0, site: undefined };

function readFilters() {
  const filters = {};
  const from = isoFromLocal('From', $('audit-from').value);
  const to = isoFromLocal('To', $('audit-to').value);
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

async function loadPage(index) {
  const { ctx } = audit;
  const mine = audit.filters;
  const status = $('audit-status');
  status.textContent = 'Reading the trail…';
  $('audit-prev').disabled = true;
  $('audit-next').disabled = true;
  try {
    const cursor = audit.cursors[index];
    const page = await ctx.api(ctx.sitePath('audit'), { query: { ...audit.filters, limit: PAGE, ...(cursor ? { cursor } : {}) } });
    if (mine !== audit.filters) return;
    audit.index = index;
    audit.cursors[index + 1] = page.cursor ?? null;
    const tbody = $('audit').tBodies[0];
    tbody.replaceChildren();
    for (const item of page.items) {
      const row = tbody.insertRow();
      row.dataset.action = item.action;
      cell(row, timeEl(item.at));
      cell(row, el('span', item.action, { className: `action action-${item.action}` }));
      cell(row, item.principal, 'wrap');
      cell(row, item.officer);
      cell(row, item.rid ? el('a', item.rid, { href: `#${new URLSearchParams({ site: ctx.site(), view: 'call', rid: item.rid })}` }) : '');
      cell(row, item.case);
      cell(row, detailsText(item), 'wrap details-cell');
    }
    const more = Boolean(page.cursor);
    const n = page.items.length;
    status.textContent = n === 0 ? (index === 0 ? 'No records match these filters.' : 'No more records.') : `${n} record${n === 1 ? '' : 's'} on page ${index + 1}${more ? ', more available' : ''}.`;
    $('audit-page').textContent = n ? `Page ${index + 1}` : '';
    $('audit-prev').disabled = index === 0;
    $('audit-next').disabled = !more;
  } catch (error) {
    if (mine !== audit.filters) return;
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
    showError(error.message);
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
    showError(error.message);
    return;
  }
  try {
    const response = await ctx.api(ctx.sitePath('audit'), { query: { ...filters, format: 'csv' }, accept: 'text/csv' });
    const blob = await response.blob();
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    const a = el('a', '', { href: URL.createObjectURL(blob), download: `audit-${ctx.site()}-${stamp}.csv` });
    a.hidden = true;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  } catch (error) {
    showError(refusalText('The CSV export', error));
  }
}

let wired = false;

export async function openAudit(ctx) {
  audit.ctx = ctx;
  if (!wired) {
    wired = true;
    $('audit-form').addEventListener('submit', (e) => void search(e));
    $('audit-prev').addEventListener('click', () => void loadPage(audit.index - 1));
    $('audit-next').addEventListener('click', () => void loadPage(audit.index + 1));
    $('audit-csv').addEventListener('click', () => void exportCsv());
  }
  if (!audit.filters || audit.site !== ctx.site()) await search();
}
