// SPDX-License-Identifier: Apache-2.0
//
// The audit log: GET /api/v1/audit?limit=200 (the API answers newest
// last), shown newest first.
import * as api from '../api.js';
import { h, replace, table } from '../dom.js';
import { when } from '../format.js';

export function render(ctx) {
  const root = ctx.mount('audit');
  const box = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  root.append(h('h1', null, 'Audit log'), h('p', { class: 'muted' }, 'The 200 newest entries, newest first.'), box);
  api.get('/api/v1/audit', { signal: ctx.signal, query: { limit: 200 } }).then((r) => {
    const rows = r.audit.map((x, i) => ({ x, i }))
      .sort((a, b) => b.x.at - a.x.at || b.i - a.i)
      .map(({ x }) => h('tr', { 'data-testid': 'audit-row', 'data-action': x.action },
        h('td', null, when(x.at)),
        h('td', null, x.actor),
        h('td', { class: 'mono' }, x.action),
        h('td', { class: 'detail' }, x.detail)));
    replace(box, table('audit-table', ['At', 'Actor', 'Action', 'Detail'], rows, 'Nothing audited yet.'));
    ctx.ready(root);
  }).catch((e) => ctx.error(e));
}
