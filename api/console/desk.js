// The agent's desk: their status, their callbacks, the screen-pop of the call they
// hold, and the action-code form for it. Live from GET /agent/events (a snapshot,
// the agent's routing events, a screen_pop when a call is answered).

import { api, ApiError, LiveSocket } from './api.js';
import { ActionForm, relabelCodes } from './actionform.js';
import { CallbackList } from './callbacks.js';
import { field, h, replaceChildren } from './dom.js';
import { enumText, errorText, onLangChange, tx } from './i18n.js';
import { notify, notifyText } from './notify.js';
import { renderPop } from './screenpop.js';

const BREAK_REASONS = ['lunch', 'rest', 'training', 'meeting', 'other'];
// The requests each status allows (routing.status.TRANSITIONS).
const REQUESTS = {
  logged_out: ['login'],
  available: ['on_break', 'after_call_work', 'logout'],
  on_break: ['available', 'on_break', 'after_call_work', 'logout'],
  after_call_work: ['available', 'on_break', 'logout'],
};

export function mount(main) {
  const desk = new Desk(main);
  desk.start();
  return () => desk.stop();
}

class Desk {
  constructor(main) {
    this.agent = null;
    this.pop = null;
    this.form = new ActionForm((filed) => this.filed(filed));
    this.callbacks = new CallbackList();
    this.build(main);
    this.socket = new LiveSocket('/agent/events', (m) => this.receive(m), (s) => this.connection(s));
    this.unlisten = onLangChange(() => this.relabel());
  }

  build(main) {
    this.connectionText = h('span', { class: 'connection', role: 'status', t: 'wall.connecting' });
    this.statusNow = h('p', { class: 'status-now', 'aria-live': 'polite' });
    this.reason = h('select', { name: 'reason' },
      BREAK_REASONS.map((r) => h('option', { value: r, t: `break.${r}` })));
    this.buttons = {
      login: this.button('login', 'desk.login', () => this.request('/agent/login')),
      available: this.button('available', 'desk.available', () => this.status('available')),
      on_break: this.button('on_break', 'desk.break', () => this.status('on_break', this.reason.value)),
      after_call_work: this.button('after_call_work', 'desk.acw', () => this.status('after_call_work')),
      logout: this.button('logout', 'desk.logout', () => this.request('/agent/logout')),
    };
    this.popBox = h('div', { class: 'pop-box' }, h('p', { class: 'muted', t: 'pop.none' }));
    this.callTitle = h('h2', { id: 'call-title', t: 'pop.title' });
    main.append(h('section', { class: 'page desk', 'aria-labelledby': 'desk-title' },
      h('div', { class: 'page-head' }, h('h1', { id: 'desk-title', t: 'desk.title' }), this.connectionText),
      h('div', { class: 'desk-grid' },
        h('div', { class: 'desk-side' },
          h('section', { class: 'card', 'aria-labelledby': 'status-title' },
            h('h2', { id: 'status-title', t: 'desk.status' }), this.statusNow,
            h('div', { class: 'status-buttons' }, this.buttons.login, this.buttons.available,
              field('break-reason', 'desk.break_reason', this.reason), this.buttons.on_break,
              this.buttons.after_call_work, this.buttons.logout)),
          this.callbacks.card),
        h('section', { class: 'card', 'aria-labelledby': 'call-title' }, this.callTitle, this.popBox),
        h('section', { class: 'card', 'aria-labelledby': 'action-title' },
          h('h2', { id: 'action-title', t: 'act.title' }), this.form.box))));
  }

  button(name, key, onclick) {
    return h('button', { type: 'button', class: `status-${name}`, t: key, disabled: true, onclick });
  }

  async start() {
    this.callbacks.start();
    try {
      await this.form.loadCodes();
      this.show(await api('/agent/me'));
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        tx(this.statusNow, 'desk.not_on_roster');
        return;
      }
      notifyText(errorText(error));
    }
    this.socket.start();
  }

  stop() {
    this.socket.stop();
    this.callbacks.stop();
    this.unlisten();
  }

  connection(state) {
    tx(this.connectionText, `wall.${state}`);
    this.connectionText.dataset.state = state;
  }

  receive(message) {
    if (message.kind === 'snapshot') this.show(message.agent);
    else if (message.kind === 'agent') this.show({ ...this.agent, ...message });
    else if (message.kind === 'screen_pop') this.showPop(message);
  }

  // The agent as it is now; a call in wrap-up after a reload gets its pop again.
  show(agent) {
    this.agent = agent;
    replaceChildren(this.statusNow, enumText(h('span', { class: 'status' }), 'status', agent.status),
      ' · ', enumText(h('span', { class: 'state' }), 'state', agent.state),
      agent.reason ? h('span', { class: 'reason' }, ` · ${agent.reason}`) : null);
    const allowed = new Set(REQUESTS[agent.status] || []);
    for (const [name, button] of Object.entries(this.buttons)) button.disabled = !allowed.has(name);
    this.reason.disabled = !allowed.has('on_break');
    const holding = ['talking', 'wrap_up'].includes(agent.state) && agent.call_id;
    if (holding && (!this.pop || this.pop.call_id !== agent.call_id)) this.fetchPop();
  }

  async fetchPop() {
    try {
      this.showPop(await api('/agent/call'));
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) notifyText(errorText(error));
    }
  }

  showPop(pop) {
    if (this.pop && this.pop.call_id === pop.call_id) return;
    this.pop = pop;
    tx(this.callTitle, 'pop.title_case', { account: pop.case.account_no });
    replaceChildren(this.popBox, renderPop(pop, this.form.codes));
    this.form.start(pop);
  }

  filed(filed) {
    if (filed.agent) this.show(filed.agent);
    this.callbacks.load(); // a callback agreed, or the one just returned
  }

  relabel() {
    if (this.pop) replaceChildren(this.popBox, renderPop(this.pop, this.form.codes));
    relabelCodes(this.form.select, this.form.codes);
    this.callbacks.relabel();
  }

  async request(path, body) {
    try {
      const answer = await api(path, { method: 'POST', body });
      this.show(answer.agent);
      notify(`desk.result_${answer.result}`);
    } catch (error) {
      notifyText(errorText(error));
    }
  }

  status(status, reason) {
    return this.request('/agent/status', reason ? { status, reason } : { status });
  }
}
