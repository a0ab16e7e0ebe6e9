// SPDX-License-Identifier: Apache-2.0
//
// Devices: filters combined into one expression of the API's filter
// language (filter.js) plus the search q, server-side paging (offset,
// limit; the answer's total) and sorting by the API's keys (device_id,
// product, running_version, last_seen, created_at; "-" descending) from
// the column headers. GET /api/v1/devices. The choices stay while the page
// is open, so coming back from a device keeps them.
import * as api from '../api.js';
import { h, replace, table, field, select } from '../dom.js';
import { when, num, human } from '../format.js';
import { deviceHref } from '../router.js';
import { term, and, paren } from '../filter.js';

const STATES = ['downloading', 'applying', 'rebooting', 'confirmed', 'rolled_back', 'failed', 'refused', 'none'];
const LAST_SEEN = [['', 'any time'], ['<1h', 'within 1 h'], ['<24h', 'within 24 h'], ['>24h', 'over 24 h ago, or never']];
const TAG = /^([a-z][a-z0-9_.-]{0,31})=(.+)$/;

const state = {
  product: '', version: '', group: '', status: '', tag: '', lastSeen: '', q: '', raw: '',
  sort: 'device_id', offset: 0, limit: 50,
};

// The expression of the current filters, or throws a readable Error.
export function buildFilter(st, groups = []) {
  const terms = [];
  if (st.product) terms.push(term('product', st.product));
  if (st.version.trim()) terms.push(term('version', st.version.trim()));
  if (st.group) {
    const g = groups.find((x) => x.name === st.group);
    terms.push(g && g.kind === 'dynamic' && g.filter ? paren(g.filter) : term('group', st.group));
  }
  if (st.status) terms.push(term('state', st.status));
  if (st.tag.trim()) {
    const m = TAG.exec(st.tag.trim());
    if (!m) throw new Error('A tag filter is key=value, the key in lower case (letters, digits, _ . -), e.g. hw=B.');
    terms.push(term(`tag.${m[1]}`, m[2]));
  }
  if (st.lastSeen) terms.push(`last_seen${st.lastSeen}`);
  if (st.raw.trim()) terms.push(paren(st.raw));
  return and(terms);
}

const COLUMNS = [
  ['Device', 'device_id'], ['Product', 'product'], ['Chip', null], ['Running version', 'running_version'],
  ['Enabled', null], ['Last seen', 'last_seen'], ['Tags', null], ['Latest report', null], ['Registered', 'created_at'],
];

function deviceRow(d) {
  const tags = Object.entries(d.tags || {});
  return h('tr', { 'data-testid': 'device-row', 'data-id': d.device_id, class: d.enabled ? '' : 'disabled' },
    h('td', null, h('a', { href: deviceHref(d.device_id) }, d.device_id)),
    h('td', null, d.product),
    h('td', null, d.chip ? d.chip.name : h('span', { class: 'muted' }, 'unknown')),
    h('td', null, d.running_version || h('span', { class: 'muted', title: 'the server does not know the image it runs' },
      d.reported_version ? `unknown image (reports ${d.reported_version})` : 'unknown image')),
    h('td', null, d.enabled ? 'yes' : 'no'),
    h('td', null, when(d.last_seen)),
    h('td', null, tags.length ? tags.map(([k, v]) => h('span', { class: 'tag' }, `${k}=${v}`)) : h('span', { class: 'muted' }, '—')),
    h('td', null, d.last_state ? h('span', { class: `state state-${d.last_state}` }, human(d.last_state)) : h('span', { class: 'muted' }, '—')),
    h('td', null, when(d.created_at)));
}

export function render(ctx) {
  const root = ctx.mount('devices');
  const sig = { signal: ctx.signal };
  const text = (id, value, attrs = {}) => h('input', { id, 'data-testid': id, type: 'text', value, autocomplete: 'off', spellcheck: 'false', ...attrs });
  const fProduct = select({ id: 'dev-filter-product', 'data-testid': 'dev-filter-product' }, [['', 'any product']], '');
  const fVersion = text('dev-filter-version', state.version, { placeholder: 'e.g. 1.0.1' });
  const fGroup = select({ id: 'dev-filter-group', 'data-testid': 'dev-filter-group' }, [['', 'any group']], '');
  const fState = select({ id: 'dev-filter-state', 'data-testid': 'dev-filter-state' },
    [['', 'any'], ...STATES.map((x) => [x, x === 'none' ? 'none (no report yet)' : human(x)])], state.status);
  const fTag = text('dev-filter-tag', state.tag, { placeholder: 'key=value' });
  const fSeen = select({ id: 'dev-filter-last-seen', 'data-testid': 'dev-filter-last-seen' }, LAST_SEEN, state.lastSeen);
  const fQ = text('dev-search', state.q, { type: 'search', placeholder: 'id, product, version, tag value', maxlength: 64 });
  const fRaw = text('dev-filter-raw', state.raw, { placeholder: 'e.g. chip=ESP32-C3 or not enabled=true' });
  const apply = h('button', { type: 'submit', 'data-testid': 'dev-apply' }, 'Apply');
  const reset = h('button', { type: 'button', class: 'secondary', 'data-testid': 'dev-reset' }, 'Clear');
  const form = h('form', { class: 'card filters', 'data-testid': 'dev-filters', novalidate: true },
    field('Product', fProduct), field('Version', fVersion), field('Group', fGroup), field('Latest report', fState),
    field('Tag', fTag), field('Last seen', fSeen), field('Search', fQ), field('Filter expression', fRaw),
    h('div', { class: 'form-actions' }, apply, reset));
  const total = h('p', { 'data-testid': 'dev-total', class: 'total' });
  const expr = h('p', { class: 'muted mono', 'data-testid': 'dev-filter-expr' });
  const tableBox = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  const prev = h('button', { type: 'button', 'data-testid': 'page-prev', class: 'secondary' }, '‹ Previous');
  const next = h('button', { type: 'button', 'data-testid': 'page-next', class: 'secondary' }, 'Next ›');
  const info = h('span', { 'data-testid': 'page-info', class: 'page-info' });
  const size = select({ id: 'page-size', 'data-testid': 'page-size' }, [['25', '25'], ['50', '50'], ['100', '100']], String(state.limit));
  root.append(h('h1', null, 'Devices'), form, h('div', { class: 'list-head' }, total, expr), tableBox,
    h('div', { class: 'pager' }, prev, info, next, field('Per page', size)));

  let groups = [];
  let inflight = null;

  function readForm() {
    Object.assign(state, {
      product: fProduct.value, version: fVersion.value, group: fGroup.value, status: fState.value,
      tag: fTag.value, lastSeen: fSeen.value, q: fQ.value.trim(), raw: fRaw.value,
    });
  }

  function header([label, key]) {
    if (!key) return h('th', { scope: 'col' }, label);
    const cur = state.sort === key ? 'ascending' : state.sort === `-${key}` ? 'descending' : 'none';
    const arrow = cur === 'ascending' ? ' ▲' : cur === 'descending' ? ' ▼' : '';
    return h('th', { scope: 'col', 'aria-sort': cur, 'data-sort': key },
      h('button', { type: 'button', class: 'sort', 'data-testid': `sort-${key}`, onclick: () => {
        state.sort = state.sort === key ? `-${key}` : key;
        state.offset = 0;
        load();
      } }, label, arrow));
  }

  async function load() {
    let filter;
    try {
      filter = buildFilter(state, groups);
    } catch (e) {
      ctx.error(e, 'devices');
      return;
    }
    if (inflight) inflight.abort();
    const ac = new AbortController();
    inflight = ac;
    const onLeave = () => ac.abort();
    ctx.signal.addEventListener('abort', onLeave, { once: true });
    root.removeAttribute('data-ready');
    replace(expr, filter ? `filter: ${filter}` : '');
    try {
      const r = await api.get('/api/v1/devices', { signal: ac.signal, query: { filter, q: state.q, sort: state.sort, offset: state.offset, limit: state.limit } });
      if (r.total > 0 && state.offset >= r.total) { state.offset = Math.max(0, Math.floor((r.total - 1) / state.limit) * state.limit); return load(); }
      ctx.clearError('devices');
      replace(total, `${r.total} devices`);
      const first = r.total === 0 ? 0 : state.offset + 1;
      const lastN = state.offset + r.devices.length;
      replace(info, r.total === 0 ? '0 of 0' : `${num(first)}–${num(lastN)} of ${num(r.total)}`);
      prev.disabled = state.offset === 0;
      next.disabled = lastN >= r.total;
      replace(tableBox, table('devices-table', COLUMNS.map(header), r.devices.map(deviceRow), 'No device matches.'));
      ctx.ready(root);
    } catch (e) {
      ctx.error(e, 'devices');
    } finally {
      ctx.signal.removeEventListener('abort', onLeave);
      if (inflight === ac) inflight = null;
    }
  }

  form.addEventListener('submit', (e) => { e.preventDefault(); readForm(); state.offset = 0; load(); });
  // Enter in a select applies too (a text field's Enter submits the form).
  form.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && e.target instanceof HTMLSelectElement) { e.preventDefault(); form.requestSubmit(); }
  });
  reset.addEventListener('click', () => {
    for (const el of [fProduct, fVersion, fGroup, fState, fTag, fSeen, fQ, fRaw]) el.value = '';
    readForm(); state.offset = 0; load();
  });
  prev.addEventListener('click', () => { state.offset = Math.max(0, state.offset - state.limit); load(); });
  next.addEventListener('click', () => { state.offset += state.limit; load(); });
  size.addEventListener('change', () => { state.limit = Number(size.value); state.offset = 0; load(); });

  Promise.all([api.get('/api/v1/products', sig), api.get('/api/v1/groups', sig)]).then(([pr, gr]) => {
    groups = gr.groups;
    fProduct.replaceChildren(...[['', 'any product'], ...pr.products.map((p) => [p.name, p.name])]
      .map(([v, t]) => h('option', { value: v, selected: v === state.product }, t)));
    fGroup.replaceChildren(...[['', 'any group'], ...groups.map((g) => [g.name, `${g.name} (${g.kind}, ${g.member_count})`])]
      .map(([v, t]) => h('option', { value: v, selected: v === state.group }, t)));
    if (fProduct.value !== state.product) state.product = '';
    if (fGroup.value !== state.group) state.group = '';
    return load();
  }).catch((e) => ctx.error(e));
}
