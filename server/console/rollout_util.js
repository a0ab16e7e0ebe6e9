// SPDX-License-Identifier: Apache-2.0
//
// Shared by the rollout views: a rollout's target as text, its state badge,
// which admin actions its state allows (docs/server.md, Rollouts).
import { h } from './dom.js';
import { human } from './format.js';

export function targetText(t) {
  if (!t) return '—';
  return t.kind === 'group' ? `group ${t.value}` : `filter ${t.value}`;
}

export function stateBadge(state, attrs = {}) {
  return h('span', { class: `state state-${state}`, 'data-state': state, ...attrs }, human(state));
}

// state -> the actions POST /api/v1/rollouts/{id}/<action> accepts.
export const ACTIONS = {
  scheduled: ['pause', 'abort'],
  running: ['pause', 'abort'],
  waiting_approval: ['approve', 'pause', 'abort'],
  paused: ['resume', 'abort'],
  halted: ['resume', 'abort'],
  completed: [],
  aborted: [],
};

export function waveText(r) {
  const n = Array.isArray(r.wave_list) ? r.wave_list.length : String(r.waves || '').split(',').filter(Boolean).length;
  return n ? `${r.current_wave} of ${n}` : String(r.current_wave);
}
