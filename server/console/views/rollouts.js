// SPDX-License-Identifier: Apache-2.0
//
// Rollouts: the list (GET /api/v1/rollouts, shown newest first) and the
// form that makes one (POST /api/v1/rollouts); after a 201 the console goes
// to #/rollouts/<id>. Refusals (400 invalid_waves, 409 empty_target,
// devices_cannot_accept, device_in_rollout, ...) show in ro-error.
import * as api from '../api.js';
import { h, replace, table, field, select, datalist } from '../dom.js';
import { when } from '../format.js';
import { go, rolloutHref } from '../router.js';
import { targetText, stateBadge, waveText } from '../rollout_util.js';

// "90", "90s", "15m", "2h", "1d" -> seconds; "" -> 0; else null.
export function parseDuration(text) {
  const t = text.trim();
  if (!t) return 0;
  const m = /^(\d+)\s*([smhd]?)$/.exec(t);
  if (!m) return null;
  return Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2]];
}

function row(r) {
  return h('tr', { 'data-testid': 'rollout-row', 'data-id': r.id, 'data-state': r.state },
    h('td', null, h('a', { href: rolloutHref(r.id) }, `#${r.id}`)),
    h('td', null, r.product),
    h('td', null, r.version),
    h('td', { class: 'detail' }, targetText(r.target)),
    h('td', null, stateBadge(r.state)),
    h('td', null, waveText(r)),
    h('td', null, when(r.created_at)));
}

export function render(ctx) {
  const root = ctx.mount('rollouts');
  const sig = { signal: ctx.signal };
  const listBox = h('div', null, h('p', { class: 'muted' }, 'Loading…'));

  const id = (x) => ({ id: x, 'data-testid': x, autocomplete: 'off', spellcheck: 'false' });
  const product = h('input', { ...id('ro-product'), type: 'text', list: 'ro-products', placeholder: 'default' });
  const version = h('input', { ...id('ro-version'), type: 'text', list: 'ro-versions', required: true });
  const kind = select(id('ro-target-kind'), [['group', 'group'], ['filter', 'filter']], 'group');
  const target = h('input', { ...id('ro-target'), type: 'text', list: 'ro-groups', required: true });
  const waves = h('input', { ...id('ro-waves'), type: 'text', value: '10%,50%,100%' });
  const success = h('input', { ...id('ro-success'), type: 'text', value: '100%' });
  const maxFailures = h('input', { ...id('ro-max-failures'), type: 'text', value: '0%' });
  const confirmWithin = h('input', { ...id('ro-confirm-within'), type: 'text', placeholder: 'no limit' });
  const approval = h('input', { id: 'ro-approval', 'data-testid': 'ro-approval', type: 'checkbox' });
  const err = h('p', { 'data-testid': 'ro-error', class: 'form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', 'data-testid': 'ro-submit' }, 'Create rollout');
  const productsList = datalist('ro-products', []);
  const versionsList = datalist('ro-versions', []);
  const groupsList = datalist('ro-groups', []);
  const targetLabel = h('label', { for: 'ro-target' }, 'Group');
  let firmware = [];

  const form = h('form', { 'data-testid': 'rollout-form', class: 'card form-grid', novalidate: true },
    h('h2', null, 'New rollout'),
    field('Product', product, 'empty: the default product'),
    field('Version', version),
    field('Target', kind),
    h('div', { class: 'field' }, targetLabel, target, h('small', { class: 'hint' }, 'a group name, or a filter such as product=wled-esp32 and tag.hw=B')),
    field('Waves', waves, 'cumulative shares or counts: 5%,25%,100%'),
    field('Success threshold', success, 'share or count of a wave that must confirm'),
    field('Error threshold', maxFailures, 'failures allowed: a share of the wave or a count'),
    field('Confirm within', confirmWithin, 'seconds, or 30m, 2h; empty: no limit'),
    h('div', { class: 'field checkbox' }, approval, h('label', { for: 'ro-approval' }, 'An admin approves each next wave')),
    err,
    h('div', { class: 'form-actions' }, submit),
    productsList, versionsList, groupsList);

  root.append(h('h1', null, 'Rollouts'), h('section', null, listBox), form);

  function suggestVersions() {
    const p = product.value.trim() || 'default';
    replace(versionsList, firmware.filter((f) => f.product === p).map((f) => h('option', { value: f.version })));
  }
  product.addEventListener('input', suggestVersions);
  kind.addEventListener('change', () => {
    replace(targetLabel, kind.value === 'group' ? 'Group' : 'Filter');
    if (kind.value === 'group') target.setAttribute('list', 'ro-groups'); else target.removeAttribute('list');
  });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    replace(err);
    const plan = { version: version.value.trim() };
    if (product.value.trim()) plan.product = product.value.trim();
    const t = target.value.trim();
    if (!plan.version) { replace(err, 'Enter the version to roll out.'); return; }
    if (!t) { replace(err, kind.value === 'group' ? 'Enter the target group.' : 'Enter the target filter.'); return; }
    plan[kind.value] = t;
    if (waves.value.trim()) plan.waves = waves.value.trim();
    if (success.value.trim()) plan.success = success.value.trim();
    if (maxFailures.value.trim()) plan.max_failures = maxFailures.value.trim();
    const cw = parseDuration(confirmWithin.value);
    if (cw === null) { replace(err, 'Confirm within is a number of seconds, or a duration such as 30m or 2h.'); return; }
    if (cw) plan.confirm_within = cw;
    if (approval.checked) plan.approval = true;
    submit.disabled = true;
    try {
      const r = await api.post('/api/v1/rollouts', plan, sig);
      go(rolloutHref(r.id));
    } catch (ex) {
      if (!api.isAbort(ex)) replace(err, ex.message);
    } finally {
      submit.disabled = false;
    }
  });

  Promise.all([
    api.get('/api/v1/rollouts', sig),
    api.get('/api/v1/products', sig),
    api.get('/api/v1/groups', sig),
    api.get('/api/v1/firmware', sig),
  ]).then(([ro, pr, gr, fw]) => {
    const list = [...ro.rollouts].reverse();
    replace(listBox, table('rollouts-table', ['Id', 'Product', 'Version', 'Target', 'State', 'Current wave', 'Created'],
      list.map(row), 'No rollout yet.'));
    replace(productsList, pr.products.map((p) => h('option', { value: p.name })));
    replace(groupsList, gr.groups.map((g) => h('option', { value: g.name }, `${g.kind}, ${g.member_count} devices`)));
    firmware = fw.firmware;
    suggestVersions();
    ctx.ready(root);
  }).catch((e) => ctx.error(e));
}
