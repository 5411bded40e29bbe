// The agent's callbacks on the desk (GET /agent/callbacks): the cases assigned to
// them with a callback agreed, earliest first, the ones whose time has come marked
// due; a callback is dialled from here (POST /agent/dial on the number agreed).
// Read again every minute and after the agent files an action.

import { api, ApiError } from './api.js';
import { h, replaceChildren } from './dom.js';
import { dateTimeIn, money } from './format.js';
import { enumText, errorText, ta, tx } from './i18n.js';
import { notify, notifyText } from './notify.js';

const REFRESH_MS = 60000;

export class CallbackList {
  constructor() {
    this.list = h('ul', { class: 'callbacks' });
    this.count = h('span', { class: 'count' });
    this.card = h('section', { class: 'card callbacks-card', 'aria-labelledby': 'callbacks-title' },
      h('h2', { id: 'callbacks-title' }, h('span', { t: 'cb.title' }), ' ', this.count),
      this.list);
    this.seq = 0;
  }

  start() {
    this.load();
    this.timer = setInterval(() => this.load(), REFRESH_MS);
  }

  stop() {
    clearInterval(this.timer);
  }

  async load() {
    const seq = ++this.seq;
    try {
      const { items } = await api('/agent/callbacks');
      if (seq === this.seq) this.render(items);
    } catch (error) {
      notifyText(errorText(error));
    }
  }

  // Times and amounts are formatted for the language: shown again when it changes.
  relabel() {
    if (this.items) this.render(this.items);
  }

  render(items) {
    this.items = items;
    const due = items.filter((c) => c.due).length;
    tx(this.count, 'cb.count', { n: items.length, due });
    replaceChildren(this.list, items.length ? items.map((c) => this.item(c))
      : h('li', { class: 'empty', t: 'cb.none' }));
  }

  item(c) {
    const dial = h('button', { type: 'button', class: 'dial', t: 'cb.dial',
      onclick: () => this.dial(c, dial) });
    ta(dial, 'aria-label', 'cb.dial_named', { account: c.account_no });
    return h('li', { class: c.due ? 'callback due' : 'callback', dataset: { caseId: c.case_id } },
      h('div', { class: 'when' },
        h('time', { datetime: c.callback_at }, dateTimeIn(c.callback_at, c.time_zone)),
        c.due ? h('strong', { class: 'due-badge', t: 'cb.due' }) : null),
      h('div', { class: 'who' }, h('span', { class: 'account' }, c.account_no), ' · ',
        h('span', { class: 'debtor' }, c.debtor_name), ' · ', money(c.balance, c.currency)),
      c.phone ? h('div', { class: 'phone muted' }, `${c.phone.number} · `,
        enumText(h('span'), 'party', c.phone.party)) : null,
      c.note ? h('div', { class: 'note' }, c.note) : null,
      dial);
  }

  async dial(c, button) {
    button.disabled = true;
    const body = { case_id: c.case_id };
    if (c.phone) body.phone_id = c.phone.id;
    try {
      await api('/agent/dial', { method: 'POST', body });
      notify('cb.dialling', { account: c.account_no });
    } catch (error) {
      if (error instanceof ApiError && error.errorId === 'dial.refused') {
        notify('cb.refused', { account: c.account_no, why: error.message }, 'error');
      } else {
        notifyText(errorText(error));
      }
    } finally {
      button.disabled = false;
    }
  }
}
