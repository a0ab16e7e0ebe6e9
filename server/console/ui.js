// SPDX-License-Identifier: Apache-2.0
//
// Page-wide pieces: the error banner (data-testid error-banner, role alert)
// and the in-page confirm dialog (data-testid confirm-dialog, buttons
// confirm-yes / confirm-no). Neither uses window.alert/confirm.
import { h, replace } from './dom.js';

let bannerBox = null;
let bannerText = null;
let bannerSource = '';

// The banner's elements, made once by the shell.
export function banner() {
  bannerText = h('p', { 'data-testid': 'error-banner', role: 'alert', class: 'banner-text' });
  bannerBox = h('div', { class: 'banner', hidden: true },
    bannerText,
    h('button', { type: 'button', class: 'banner-close', 'aria-label': 'Dismiss the message', onclick: () => clearError() }, '×'));
  return bannerBox;
}

// Shows a readable sentence (an Error's message, or a string). `source`
// names who showed it, so that clearError(source) removes only its own.
export function showError(e, source = '') {
  if (!bannerBox) return;
  const text = typeof e === 'string' ? e : (e && e.message) || 'Something went wrong.';
  replace(bannerText, text);
  bannerSource = source;
  bannerBox.hidden = false;
}

export function clearError(source) {
  if (!bannerBox) return;
  if (source !== undefined && source !== bannerSource) return;
  replace(bannerText);
  bannerSource = '';
  bannerBox.hidden = true;
}

let openDialog = null;

// Asks in an in-page modal dialog; resolves true for confirm-yes, false for
// confirm-no, Escape or closeDialog() (e.g. when the view is left).
export function confirmDialog(message, yesLabel = 'Yes') {
  closeDialog();
  return new Promise((resolve) => {
    const no = h('button', { type: 'button', 'data-testid': 'confirm-no', class: 'secondary' }, 'Cancel');
    const yes = h('button', { type: 'button', 'data-testid': 'confirm-yes' }, yesLabel);
    const dlg = h('dialog', { 'data-testid': 'confirm-dialog', 'aria-labelledby': 'confirm-text', class: 'confirm' },
      h('p', { id: 'confirm-text' }, message),
      h('div', { class: 'actions' }, no, yes));
    let answered = false;
    const finish = (answer) => {
      if (answered) return;
      answered = true;
      openDialog = null;
      if (dlg.open) dlg.close();
      dlg.remove();
      resolve(answer);
    };
    yes.addEventListener('click', () => finish(true));
    no.addEventListener('click', () => finish(false));
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); finish(false); });
    openDialog = () => finish(false);
    document.body.appendChild(dlg);
    dlg.showModal();
    no.focus();
  });
}

export function closeDialog() {
  if (openDialog) openDialog();
}
