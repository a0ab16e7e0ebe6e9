// SPDX-License-Identifier: Apache-2.0
//
// Fleet overview, all from GET /api/v1/fleet: the total, charts of devices
// by product, by running version (per product) and by the state of their
// latest status report (summed over products), the devices not seen lately
// and the newest failures with their reasons.
import * as api from '../api.js';
import { h, table } from '../dom.js';
import { barChart } from '../chart.js';
import { num, when, human } from '../format.js';
import { deviceHref } from '../router.js';

const STATE_ORDER = ['confirmed', 'downloading', 'applying', 'rebooting', 'rolled_back', 'failed', 'refused', 'none'];

function stateItems(byState) {
  const sum = new Map();
  const parts = new Map();
  for (const r of byState) {
    sum.set(r.state, (sum.get(r.state) || 0) + r.devices);
    parts.set(r.state, [...(parts.get(r.state) || []), `${r.product}: ${r.devices}`]);
  }
  const rank = (st) => (STATE_ORDER.indexOf(st) === -1 ? STATE_ORDER.length : STATE_ORDER.indexOf(st));
  return [...sum.entries()]
    .sort((a, b) => rank(a[0]) - rank(b[0]) || a[0].localeCompare(b[0]))
    .map(([st, n]) => ({
      label: st === 'none' ? 'no report yet' : human(st),
      value: n,
      className: `state-${st}`,
      title: `${human(st)}: ${n} (${parts.get(st).join(', ')})`,
    }));
}

export function render(ctx) {
  const root = ctx.mount('overview');
  root.appendChild(h('h1', null, 'Fleet overview'));
  const body = h('div', { class: 'overview' }, h('p', { class: 'muted' }, 'Loading…'));
  root.appendChild(body);
  api.get('/api/v1/fleet', { signal: ctx.signal }).then((f) => {
    const hours = Math.round(f.not_seen_after_s / 3600);
    const silentFor = hours >= 1 ? `${hours} h` : `${Math.round(f.not_seen_after_s / 60)} min`;
    const notSeenRows = f.not_seen.devices.map((d) => h('tr', null,
      h('td', null, h('a', { href: deviceHref(d.device_id) }, d.device_id)),
      h('td', null, d.product),
      h('td', null, when(d.last_seen))));
    const failureRows = f.failures.map((x) => h('tr', { 'data-testid': 'failure-row', 'data-device': x.device_id },
      h('td', null, h('a', { href: deviceHref(x.device_id) }, x.device_id)),
      h('td', null, x.product),
      h('td', null, h('span', { class: `state state-${x.state}` }, human(x.state))),
      h('td', null, when(x.at)),
      h('td', { class: 'detail' }, x.detail || '—')));
    body.replaceChildren(
      h('div', { class: 'stats' },
        h('div', { class: 'stat' }, h('span', { class: 'stat-value', 'data-testid': 'fleet-total' }, num(f.devices)), h('span', { class: 'stat-label' }, 'devices')),
        h('div', { class: 'stat' }, h('span', { class: 'stat-value', 'data-testid': 'fleet-enabled' }, num(f.enabled)), h('span', { class: 'stat-label' }, 'enabled')),
        h('div', { class: 'stat' }, h('span', { class: 'stat-value', 'data-testid': 'fleet-not-seen' }, num(f.not_seen.total)), h('span', { class: 'stat-label' }, `not seen for ${silentFor}`)),
        h('div', { class: 'stat' }, h('span', { class: 'stat-value', 'data-testid': 'fleet-failures' }, num(f.failures.length)), h('span', { class: 'stat-label' }, 'recent failures'))),
      h('div', { class: 'charts' },
        barChart('chart-by-product', 'Devices by product', f.by_product.map((r) => ({ label: r.product, value: r.devices }))),
        barChart('chart-by-version', 'Devices by running version', f.by_version.map((r) => ({
          label: `${r.product} ${r.version === null ? '(unknown image)' : r.version}`, value: r.devices,
        }))),
        barChart('chart-by-state', 'Devices by latest report', stateItems(f.by_state))),
      h('section', null,
        h('h2', null, `Not seen for ${silentFor} (${num(f.not_seen.total)})`),
        table('not-seen-table', ['Device', 'Product', 'Last seen'], notSeenRows, 'Every device has been seen lately.'),
        f.not_seen.total > f.not_seen.devices.length
          ? h('p', { class: 'muted' }, `The ${f.not_seen.devices.length} longest silent are shown; `, h('a', { href: '#/devices' }, 'filter the devices'), ' for all.')
          : null),
      h('section', null,
        h('h2', null, 'Latest failures'),
        table('failures-table', ['Device', 'Product', 'State', 'When', 'Reason'], failureRows, 'No failed, rolled back or refused update reported.')));
    ctx.ready(root);
  }).catch((e) => {
    ctx.error(e);
    if (!ctx.signal.aborted) body.replaceChildren(h('p', { class: 'muted' }, 'The overview could not be loaded.'));
  });
}
