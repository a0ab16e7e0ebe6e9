// SPDX-License-Identifier: Apache-2.0
//
// A horizontal bar chart: a <figure data-testid=...> with a caption and one
// row per item: its label, an SVG bar (createElementNS) scaled to the
// largest value, and its count as text. items: [{label, value, title?}].
import { h, s } from './dom.js';
import { num } from './format.js';

export function barChart(testid, caption, items, emptyText = 'No devices yet.') {
  const max = Math.max(1, ...items.map((i) => i.value));
  const rows = items.map((i) => h('li', { class: 'bar-row', title: i.title || `${i.label}: ${i.value}` },
    h('span', { class: 'bar-label' }, i.label),
    s('svg', { class: 'bar', 'aria-hidden': 'true', focusable: 'false', preserveAspectRatio: 'none' },
      s('rect', { class: 'bar-track', x: 0, y: 0, width: '100%', height: '100%' }),
      s('rect', { class: `bar-fill ${i.className || ''}`, x: 0, y: 0, width: `${(100 * i.value) / max}%`, height: '100%' })),
    h('span', { class: 'bar-count' }, num(i.value))));
  return h('figure', { class: 'chart', 'data-testid': testid },
    h('figcaption', null, caption),
    items.length ? h('ol', { class: 'bars' }, rows) : h('p', { class: 'muted' }, emptyText));
}
