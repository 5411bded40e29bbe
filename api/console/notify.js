// One polite status line for what just happened (filed, applied, failed).

import { tx } from './i18n.js';

let timer = null;

function show(kind) {
  const box = document.getElementById('status');
  box.dataset.kind = kind;
  box.hidden = false;
  clearTimeout(timer);
  timer = setTimeout(() => { box.hidden = true; }, 8000);
  return box;
}

export function notify(key, args, kind = 'ok') {
  tx(show(kind), key, args);
}

export function notifyText(text, kind = 'error') {
  const box = show(kind);
  delete box.dataset.i18n;
  box.textContent = text;
}
