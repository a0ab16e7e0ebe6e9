// SPDX-License-Identifier: Apache-2.0
//
// One rollout, live: GET /api/v1/rollouts/{id}?devices=1 about every second
// while shown (ctx.poll stops when the view is left). The page's frame
// (headings, action buttons) is made once; each answer updates the texts
// and rebuilds a table only when its data changed, so a click never lands
// on a replaced button. Actions (pause, resume, approve, abort) are shown
// only where the state allows them and ask in the confirm dialog first.
import * as api from '../api.js';
import { h, replace, table, select, field } from '../dom.js';
import { when, human, num } from '../format.js';
import { deviceHref } from '../router.js';
import { targetText, stateBadge, ACTIONS, waveText } from '../rollout_util.js';

// Columns of the waves table: "pending" is waiting + assigned (not started).
const WAVE_COLUMNS = [
  ['pending', ['waiting', 'assigned']],
  ['downloading', ['downloading']],
  ['applying', ['applying']],
  ['rebooting', ['rebooting']],
  ['confirmed', ['confirmed']],
  ['rolled back', ['rolled_back']],
  ['failed', ['failed']],
  ['timed out', ['timed_out']],
  ['refused', ['refused']],
];
const KNOWN = new Set(WAVE_COLUMNS.flatMap(([, s]) => s));
const FAILED = new Set(['failed', 'rolled_back', 'timed_out', 'refused']);
const SHOWN_DEVICES = 500;
const ACTION_TEXT = {
  pause: ['Pause', 'Pause this rollout? Downloads under way finish; no new one starts.'],
  resume: ['Resume', 'Resume this rollout?'],
  approve: ['Approve next wave', 'Approve the next wave of this rollout?'],
  abort: ['Abort', 'Abort this rollout for good? Devices already updated keep their image.'],
};

function waveRow(w, extra) {
  const st = w.states || {};
  const count = (keys) => keys.reduce((n, k) => n + (st[k] || 0), 0);
  const status = w.done ? 'done' : w.started ? 'running' : 'not started';
  return h('tr', { 'data-testid': 'wave-row', 'data-wave': w.wave, class: w.done ? 'done' : '' },
    h('td', null, String(w.wave)),
    h('td', null, w.spec),
    h('td', { class: 'num' }, num(w.size)),
    h('td', null, status, w.done_at ? h('span', { class: 'muted' }, ' ', when(w.done_at)) : null),
    WAVE_COLUMNS.map(([label, keys]) => {
      const n = count(keys);
      return h('td', { class: `num ${n ? '' : 'zero'}`, 'data-state': keys.length === 1 ? keys[0] : label }, String(n));
    }),
    extra.map((k) => h('td', { class: 'num', 'data-state': k }, String(st[k] || 0))));
}

function culpritRows(view) {
  const haltedBy = new Set(view.halted_by || []);
  const devices = view.devices || [];
  const byId = new Map(devices.map((d) => [d.device_id, d]));
  const ids = [...haltedBy, ...devices.filter((d) => FAILED.has(d.state) && !haltedBy.has(d.device_id)).map((d) => d.device_id)];
  return ids.map((id) => {
    const d = byId.get(id);
    return h('tr', { 'data-testid': 'culprit-row', 'data-device': id },
      h('td', null, h('a', { href: deviceHref(id) }, id)),
      h('td', null, d ? String(d.wave) : '—'),
      h('td', null, d ? stateBadge(d.state) : '—'),
      h('td', { class: 'detail' }, d && d.detail ? d.detail : '—'),
      h('td', null, haltedBy.has(id) ? 'yes' : d && d.excused ? 'excused' : 'no'),
      h('td', null, d ? when(d.updated_at) : '—'));
  });
}

function deviceRow(d) {
  return h('tr', { 'data-testid': 'rollout-device-row', 'data-device': d.device_id, 'data-state': d.state },
    h('td', null, h('a', { href: deviceHref(d.device_id) }, d.device_id)),
    h('td', null, String(d.wave)),
    h('td', null, stateBadge(d.state), d.excused ? h('span', { class: 'muted' }, ' (excused)') : null),
    h('td', { class: 'num' }, String(d.attempts)),
    h('td', null, when(d.started_at, '—')),
    h('td', null, when(d.updated_at, '—')),
    h('td', { class: 'detail' }, d.detail || '—'));
}

export function render(ctx) {
  const root = ctx.mount('rollout');
  const id = ctx.param;
  const path = `/api/v1/rollouts/${encodeURIComponent(id)}`;
  const title = h('h1', null, `Rollout #${id}`);
  const stateEl = h('span', { 'data-testid': 'rollout-state', class: 'state' });
  const waveEl = h('span', { 'data-testid': 'rollout-current-wave' });
  const facts = h('dl', { class: 'facts' });
  const reason = h('p', { 'data-testid': 'rollout-halt-reason', class: 'halt-reason', role: 'status', hidden: true });
  const buttons = {};
  for (const a of ['pause', 'resume', 'approve', 'abort']) {
    buttons[a] = h('button', { type: 'button', 'data-testid': `rollout-${a}`, class: a === 'abort' ? 'danger' : '', hidden: true, onclick: () => act(a) }, ACTION_TEXT[a][0]);
  }
  const wavesBox = h('div');
  const culpritBox = h('div');
  const filter = select({ id: 'rd-state', 'data-testid': 'rollout-devices-state' }, [['', 'every state']], '');
  const devicesNote = h('p', { class: 'muted' });
  const devicesBox = h('div');
  root.append(
    title,
    h('div', { class: 'rollout-head' },
      h('p', null, 'State: ', stateEl, ' · Wave ', waveEl),
      h('div', { class: 'actions' }, Object.values(buttons))),
    reason,
    facts,
    h('section', null, h('h2', null, 'Waves'), wavesBox),
    h('section', null, h('h2', null, 'Devices that failed or halted it'), culpritBox),
    h('section', null, h('h2', null, 'Devices'), h('div', { class: 'toolbar' }, field('Show', filter)), devicesNote, devicesBox));

  let last = { waves: '', culprits: '', devices: '', filter: '' };
  let stopped = false;
  let busy = false;

  function update(v) {
    const allowed = ACTIONS[v.state] || [];
    replace(title, `Rollout #${v.id}: ${v.product} ${v.version}`);
    replace(stateEl, human(v.state));
    stateEl.setAttribute('data-state', v.state);
    stateEl.className = `state state-${v.state}`;
    replace(waveEl, waveText(v));
    reason.hidden = !v.reason;
    replace(reason, v.reason || '');
    for (const [a, b] of Object.entries(buttons)) {
      b.hidden = !allowed.includes(a);
      b.disabled = busy;
    }
    replace(facts,
      ...[
        ['Target', targetText(v.target)],
        ['Waves', v.waves],
        ['Success threshold', v.success],
        ['Error threshold', v.max_failures],
        ['Approval', v.approval ? 'each next wave' : 'no'],
        ['Confirm within', v.confirm_within ? `${num(v.confirm_within)} s` : 'no limit'],
        ['Download cap', v.max_downloads ? num(v.max_downloads) : 'none'],
        ['Retries', v.retries ? `${v.retries}, first after ${num(v.retry_backoff)} s` : 'none'],
        ['Order', v.order],
        ['Starts', when(v.start_at)],
        ['Created', when(v.created_at)],
        ['Updated', when(v.updated_at)],
      ].flatMap(([k, val]) => [h('dt', null, k), h('dd', null, val)]));

    const waveList = v.wave_list || [];
    const extra = [...new Set(waveList.flatMap((w) => Object.keys(w.states || {})))].filter((k) => !KNOWN.has(k)).sort();
    const wavesKey = JSON.stringify(waveList);
    if (wavesKey !== last.waves) {
      last.waves = wavesKey;
      replace(wavesBox, table('rollout-waves', ['Wave', 'Spec', 'Size', 'Status', ...WAVE_COLUMNS.map(([l]) => l), ...extra.map(human)],
        waveList.map((w) => waveRow(w, extra)), 'No wave.'));
    }
    const culpritKey = JSON.stringify([v.halted_by, (v.devices || []).filter((d) => FAILED.has(d.state))]);
    if (culpritKey !== last.culprits) {
      last.culprits = culpritKey;
      replace(culpritBox, table('culprits-table', ['Device', 'Wave', 'State', 'Detail', 'Caused the halt', 'When'], culpritRows(v), 'No device has failed.'));
    }
    const devs = v.devices || [];
    const states = [...new Set(devs.map((d) => d.state))].sort();
    const want = filter.value;
    const filterKey = JSON.stringify(states);
    if (filterKey !== last.filter) {
      last.filter = filterKey;
      filter.replaceChildren(...[['', 'every state'], ...states.map((x) => [x, human(x)])]
        .map(([val, t]) => h('option', { value: val, selected: val === want }, t)));
    }
    const shown = devs.filter((d) => !filter.value || d.state === filter.value);
    const devKey = JSON.stringify([filter.value, shown.slice(0, SHOWN_DEVICES)]);
    if (devKey !== last.devices) {
      last.devices = devKey;
      replace(devicesNote, shown.length > SHOWN_DEVICES ? `The first ${SHOWN_DEVICES} of ${num(shown.length)} devices are shown; choose a state to narrow them.` : `${num(shown.length)} devices.`);
      replace(devicesBox, table('rollout-devices', ['Device', 'Wave', 'State', 'Attempts', 'Started', 'Updated', 'Detail'],
        shown.slice(0, SHOWN_DEVICES).map(deviceRow), 'No device.'));
    }
    ctx.ready(root);
  }

  let latest = null;
  filter.addEventListener('change', () => { if (latest) update(latest); });

  async function act(action) {
    const [label, question] = ACTION_TEXT[action];
    const ok = await ctx.confirm(question, label);
    if (!ok || ctx.signal.aborted) return;
    busy = true;
    Object.values(buttons).forEach((b) => { b.disabled = true; });
    try {
      const v = await api.post(`${path}/${action}`, undefined, { signal: ctx.signal });
      busy = false;
      ctx.clearError('action');
      // The action's answer has no device list: keep the last one.
      latest = { ...v, devices: v.devices || (latest && latest.devices) };
      update(latest);
    } catch (e) {
      busy = false;
      Object.values(buttons).forEach((b) => { b.disabled = false; });
      ctx.error(e, 'action');
    }
  }

  ctx.poll(1000, async () => {
    if (stopped) return;
    try {
      latest = await api.get(path, { signal: ctx.signal, query: { devices: 1 } });
      ctx.clearError('poll');
      update(latest);
    } catch (e) {
      if (e.status === 404 || e.status === 400) {
        stopped = true;
        replace(title, `Rollout #${id}`);
        root.append(h('p', { class: 'muted' }, 'There is no such rollout. ', h('a', { href: '#/rollouts' }, 'Back to the rollouts.')));
      }
      throw e;
    }
  });
}
