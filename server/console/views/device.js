// SPDX-License-Identifier: Apache-2.0
//
// One device: GET /api/v1/devices/{id} (product, chip, versions, tags,
// groups, downloads, its active rollout) and GET …/status (its reports,
// shown newest first); enable/disable with POST …/enable|disable after the
// confirm dialog.
import * as api from '../api.js';
import { h, replace, table } from '../dom.js';
import { when, bytes, num, human } from '../format.js';
import { rolloutHref } from '../router.js';

function list(testid, items, empty) {
  return items.length
    ? h('ul', { 'data-testid': testid, class: 'chips' }, items.map((x) => h('li', null, x)))
    : h('span', { 'data-testid': testid, class: 'muted' }, empty);
}

export function render(ctx) {
  const root = ctx.mount('device');
  const id = ctx.param;
  const path = `/api/v1/devices/${encodeURIComponent(id)}`;
  const sig = { signal: ctx.signal };
  const head = h('h1', null, 'Device ', h('span', { 'data-testid': 'device-id', class: 'mono' }, id));
  const enabledEl = h('span', { 'data-testid': 'device-enabled' });
  const toggle = h('button', { type: 'button', 'data-testid': 'device-toggle' });
  const facts = h('dl', { class: 'facts' });
  const historyBox = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  root.append(head,
    h('div', { class: 'rollout-head' }, h('p', null, 'This device is ', enabledEl, '.'), h('div', { class: 'actions' }, toggle)),
    facts,
    h('section', null, h('h2', null, 'Status reports (newest first)'), historyBox));

  let device = null;

  function show(d) {
    device = d;
    replace(enabledEl, d.enabled ? 'enabled' : 'disabled');
    enabledEl.className = d.enabled ? 'state state-confirmed' : 'state state-failed';
    replace(toggle, d.enabled ? 'Disable' : 'Enable');
    toggle.className = d.enabled ? 'danger' : '';
    const dl = d.downloads || { requests: 0, bytes: 0, resumes: 0 };
    const version = d.running_version
      ? d.running_version
      : `unknown image${d.reported_version ? ` (the device reports ${d.reported_version})` : ''}`;
    replace(facts, ...[
      ['Product', h('span', { 'data-testid': 'device-product' }, d.product)],
      ['Chip', d.chip ? d.chip.name : 'unknown yet'],
      ['Running version', h('span', { 'data-testid': 'device-version' }, version)],
      ['Reported version', d.reported_version || '—'],
      ['Image SHA-256', d.running_sha256 ? h('span', { class: 'mono wrap' }, d.running_sha256) : '—'],
      ['Security counter', num(d.security_counter)],
      ['Latest report', d.last_state ? human(d.last_state) : 'none yet'],
      ['Last seen', when(d.last_seen)],
      ['Registered', when(d.created_at)],
      ['Groups', list('device-groups', d.groups || [], 'none')],
      ['Tags', list('device-tags', Object.entries(d.tags || {}).map(([k, v]) => `${k}=${v}`), 'none')],
      ['Downloads', h('span', { 'data-testid': 'device-downloads' },
        `${num(dl.requests)} requests, ${bytes(dl.bytes)}, ${num(dl.resumes)} resumes`)],
      ['Rollout', h('span', { 'data-testid': 'device-rollout' },
        d.rollout === null || d.rollout === undefined ? 'none' : h('a', { href: rolloutHref(d.rollout) }, `rollout #${d.rollout}`))],
    ].flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
  }

  toggle.addEventListener('click', async () => {
    if (!device) return;
    const action = device.enabled ? 'disable' : 'enable';
    const ok = await ctx.confirm(device.enabled
      ? `Disable ${id}? A disabled device gets no key and no update.`
      : `Enable ${id} again?`, device.enabled ? 'Disable' : 'Enable');
    if (!ok || ctx.signal.aborted) return;
    toggle.disabled = true;
    try {
      const d = await api.post(`${path}/${action}`, undefined, sig);
      show({ ...device, ...d });
    } catch (e) {
      ctx.error(e);
    } finally {
      toggle.disabled = false;
    }
  });

  Promise.all([api.get(path, sig), api.get(`${path}/status`, sig)]).then(([d, st]) => {
    show(d);
    const rows = [...st.history].reverse().map((x) => h('tr', { 'data-testid': 'status-row', 'data-state': x.state },
      h('td', null, when(x.at)),
      h('td', null, h('span', { class: `state state-${x.state}` }, human(x.state))),
      h('td', { class: 'detail' }, x.detail || '—')));
    replace(historyBox, table('status-history', ['At', 'State', 'Detail'], rows, 'No status report yet.'));
    ctx.ready(root);
  }).catch((e) => {
    ctx.error(e);
    if (e.status === 404) replace(historyBox, h('p', { class: 'muted' }, 'There is no such device. ', h('a', { href: '#/devices' }, 'Back to the devices.')));
  });
}
