// The supervisor's wallboard: the floor from GET /supervisor/events (a snapshot,
// then routing's agent and queue events and the campaigns' figures when they
// change), agents grouped by what they are doing with the time in that state, the
// queues' waiting calls and longest wait, each campaign's figures of the day against
// its abandon cap, the chart of a campaign's day; forcing a status and joining a call.

import { api, LiveSocket } from './api.js';
import { DayChart } from './daychart.js';
import { field, h, replaceChildren } from './dom.js';
import { enumText, errorText, ta, tx } from './i18n.js';
import { duration, percent } from './format.js';
import { notify, notifyText } from './notify.js';

const GROUPS = ['talking', 'ringing', 'reserved', 'wrap_up', 'ready', 'after_call_work',
  'on_break', 'logged_out'];
// What a supervisor may set from each status (routing.status.TRANSITIONS; the API
// refuses the rest): an agent logs in themselves.
const FORCIBLE = {
  logged_out: [],
  available: ['on_break', 'after_call_work', 'logged_out'],
  on_break: ['available', 'on_break', 'after_call_work', 'logged_out'],
  after_call_work: ['available', 'on_break', 'logged_out'],
};
const STATUSES = ['available', 'on_break', 'after_call_work', 'logged_out'];
const CAMPAIGN_COLUMNS = ['wall.campaign', 'wall.run_state', 'wall.attempts', 'wall.answer_rate',
  'wall.connected', 'wall.rpc', 'wall.abandoned', 'wall.abandon_rate'];
const MODES = ['listen', 'whisper', 'barge'];

// What an agent is doing: the routing state, or while idle the status they chose.
export function group(agent) {
  if (agent.state && agent.state !== 'idle') return agent.state;
  return agent.status === 'available' ? 'ready' : agent.status;
}

export function mount(main) {
  const board = new Wallboard(main);
  board.start();
  return () => board.stop();
}

class Wallboard {
  constructor(main) {
    this.agents = new Map();
    this.rows = new Map();
    this.queues = new Map();
    this.campaigns = new Map();
    this.chart = new DayChart();
    this.offset = 0; // browser clock minus server clock, from the snapshot
    this.build(main);
    this.socket = new LiveSocket('/supervisor/events', (m) => this.receive(m),
      (state) => this.connection(state));
  }

  start() {
    this.socket.start();
    this.ticker = setInterval(() => this.tick(), 1000);
  }

  stop() {
    clearInterval(this.ticker);
    this.chart.stop();
    this.socket.stop();
    if (this.dialog.open) this.dialog.close();
  }

  serverNow() {
    return Date.now() - this.offset;
  }

  // --- layout -------------------------------------------------------------------

  build(main) {
    this.connectionText = h('span', { class: 'connection', role: 'status', t: 'wall.connecting' });
    this.counts = h('ul', { class: 'counts', attrs: { 'aria-label': 'wall.counts' } });
    this.queueList = h('ul', { class: 'queues' });
    this.campaignBody = h('tbody');
    this.agentTable = h('table', { class: 'agents' },
      h('caption', { t: 'wall.agents' }),
      h('thead', {}, h('tr', {},
        ['wall.agent', 'wall.status', 'wall.state', 'wall.time_in_state', 'wall.call',
          'wall.actions'].map((key) => h('th', { scope: 'col', t: key,
          class: key === 'wall.time_in_state' ? 'num' : null })))));
    this.groups = new Map();
    for (const name of GROUPS) {
      const count = h('span', { class: 'count' }, '0');
      const heading = h('th', { scope: 'rowgroup', colspan: '6' },
        h('span', { t: `group.${name}` }), ' (', count, ')');
      const body = h('tbody', { dataset: { group: name }, hidden: true },
        h('tr', { class: 'group-row' }, heading));
      this.groups.set(name, { body, count });
      this.agentTable.append(body);
    }
    this.dialog = this.buildDialog();
    main.append(h('section', { class: 'page wallboard', 'aria-labelledby': 'wall-title' },
      h('div', { class: 'page-head' }, h('h1', { id: 'wall-title', t: 'wall.title' }),
        this.connectionText),
      this.counts,
      h('div', { class: 'wall-grid' },
        h('section', { class: 'card', 'aria-labelledby': 'queues-title' },
          h('h2', { id: 'queues-title', t: 'wall.queues' }), this.queueList),
        h('section', { class: 'card', 'aria-labelledby': 'campaigns-title' },
          h('h2', { id: 'campaigns-title', t: 'wall.campaigns' }),
          h('table', { class: 'figures' },
            h('thead', {}, h('tr', {},
              CAMPAIGN_COLUMNS.map((key, n) => h('th', {
                scope: 'col', t: key, class: n >= 2 && n <= 6 ? 'num' : null })))),
            this.campaignBody))),
      this.chart.card,
      h('div', { class: 'card table-wrap' }, this.agentTable),
      this.dialog));
  }

  connection(state) {
    tx(this.connectionText, `wall.${state}`);
    this.connectionText.dataset.state = state;
  }

  // --- the feed ------------------------------------------------------------------

  receive(message) {
    if (message.kind === 'snapshot') this.snapshot(message);
    else if (message.kind === 'agent') this.agentEvent(message);
    else if (message.kind === 'queue') this.queueEvent(message);
    else if (message.kind === 'campaigns') this.campaignFigures(message.campaigns);
  }

  snapshot(message) {
    this.offset = Date.now() - Date.parse(message.at);
    const seen = new Set();
    for (const agent of message.agents) {
      seen.add(agent.agent_id);
      this.agents.set(agent.agent_id, agent);
      this.renderAgent(agent);
    }
    for (const id of [...this.agents.keys()].filter((id) => !seen.has(id))) {
      this.agents.delete(id);
      this.rows.get(id).row.remove();
      this.rows.delete(id);
    }
    this.queues = new Map(Object.entries(message.queues));
    this.renderQueues();
    this.campaignFigures(message.campaigns);
    this.renderCounts();
  }

  campaignFigures(campaigns) {
    this.campaigns = new Map(Object.entries(campaigns));
    this.renderCampaigns();
    this.chart.campaigns(this.campaigns);
  }

  agentEvent(event) {
    const before = this.agents.get(event.agent_id) || { agent_id: event.agent_id, name: null };
    const after = { ...before };
    for (const key of ['status', 'reason', 'state', 'call_id', 'registered']) {
      if (key in event) after[key] = event[key];
    }
    if (before.state !== after.state) after.state_since = event.at;
    this.agents.set(after.agent_id, after);
    this.renderAgent(after);
    this.renderCounts();
  }

  queueEvent(event) {
    const id = String(event.queue_id);
    const queue = { ...(this.queues.get(id) || { name: id }) };
    queue.waiting = event.waiting;
    queue.free = event.free;
    queue.oldest_waiting_since = event.oldest_waiting_since;
    this.queues.set(id, queue);
    this.renderQueues();
  }

  tick() {
    for (const [id, entry] of this.rows) entry.time.textContent = this.timeInState(this.agents.get(id));
    for (const item of this.queueList.querySelectorAll('[data-queue-id]')) {
      item.querySelector('.longest').textContent = this.longestWait(item.dataset.queueId);
    }
  }

  timeInState(agent) {
    if (!agent || !agent.state_since) return '—';
    return duration((this.serverNow() - Date.parse(agent.state_since)) / 1000);
  }

  longestWait(queueId) {
    const since = this.queues.get(queueId)?.oldest_waiting_since;
    return since ? duration((this.serverNow() - Date.parse(since)) / 1000) : '—';
  }

  // --- agents --------------------------------------------------------------------

  renderAgent(agent) {
    let entry = this.rows.get(agent.agent_id);
    if (!entry) {
      entry = this.agentRow(agent);
      this.rows.set(agent.agent_id, entry);
    }
    entry.name.textContent = agent.name || `#${agent.agent_id}`;
    entry.extension.textContent = agent.extension ? `(${agent.extension})` : '';
    enumText(entry.status, 'status', agent.status);
    if (agent.reason) {
      enumText(entry.reason, 'break', agent.reason);
    } else {
      delete entry.reason.dataset.i18n;
      entry.reason.textContent = '';
    }
    enumText(entry.state, 'state', agent.state);
    entry.row.dataset.state = agent.state;
    entry.row.dataset.status = agent.status;
    entry.time.textContent = this.timeInState(agent);
    entry.call.textContent = agent.call_id || '—';
    entry.force.disabled = !(FORCIBLE[agent.status] || []).length;
    const talking = agent.state === 'talking' && agent.call_id;
    for (const button of entry.monitor) button.disabled = !talking;
    entry.pending.textContent = '';
    if (agent.pending) tx(entry.pending, 'wall.pending', { status: { t: `status.${agent.pending.status}` } });
    this.place(entry.row, group(agent));
  }

  place(row, name) {
    const target = this.groups.get(name) || this.groups.get('logged_out');
    if (row.parentElement === target.body) return;
    const focused = row.contains(document.activeElement) ? document.activeElement : null;
    const rows = [...target.body.querySelectorAll('tr[data-agent-id]'), row];
    rows.sort((a, b) => a.dataset.sort.localeCompare(b.dataset.sort));
    target.body.append(...rows);
    for (const group of this.groups.values()) this.labelGroup(group);
    if (focused) focused.focus();
  }

  labelGroup({ body, count }) {
    const rows = body.querySelectorAll('tr[data-agent-id]').length;
    body.hidden = rows === 0;
    count.textContent = String(rows);
  }

  agentRow(agent) {
    const name = h('span', { class: 'name' });
    const extension = h('span', { class: 'ext' });
    const status = h('span', { class: 'status' });
    const reason = h('span', { class: 'reason' });
    const pending = h('span', { class: 'pending' });
    const state = h('span', { class: 'badge' });
    const time = h('td', { class: 'time num' });
    const call = h('td', { class: 'call' });
    const label = agent.name || `#${agent.agent_id}`;
    const force = h('button', { type: 'button', t: 'wall.force', onclick: () => this.openDialog(agent.agent_id, force) });
    ta(force, 'aria-label', 'wall.force_for', { name: label });
    const monitor = MODES.map((mode) => {
      const button = h('button', { type: 'button', class: `monitor ${mode}`, t: `monitor.${mode}`,
        onclick: () => this.monitor(agent.agent_id, mode) });
      ta(button, 'aria-label', `monitor.${mode}_on`, { name: label });
      return button;
    });
    const row = h('tr', { dataset: { agentId: agent.agent_id, sort: label.toLowerCase() } },
      h('th', { scope: 'row' }, name, ' ', extension),
      h('td', {}, status, reason, pending), h('td', {}, state), time, call,
      h('td', { class: 'actions' }, force, ...monitor));
    return { row, name, extension, status, reason, pending, state, time, call, force, monitor };
  }

  renderCounts() {
    const counts = new Map(GROUPS.map((g) => [g, 0]));
    for (const agent of this.agents.values()) counts.set(group(agent), (counts.get(group(agent)) || 0) + 1);
    replaceChildren(this.counts, GROUPS.map((name) => h('li', { dataset: { group: name } },
      h('span', { class: 'count' }, String(counts.get(name))), ' ', h('span', { t: `group.${name}` }))));
  }

  // --- queues and campaigns ----------------------------------------------------------

  renderQueues() {
    const items = [...this.queues.entries()].map(([id, q]) => h('li', { class: 'queue', dataset: { queueId: id } },
      h('h3', { text: q.name }),
      h('dl', {},
        h('dt', { t: 'queue.waiting' }), h('dd', { class: 'waiting big' }, String(q.waiting ?? 0)),
        h('dt', { t: 'queue.longest' }), h('dd', { class: 'longest' }, this.longestWait(id)),
        h('dt', { t: 'queue.free' }), h('dd', { class: 'free' }, String(q.free ?? 0)))));
    replaceChildren(this.queueList, items.length ? items : h('li', { class: 'empty', t: 'queue.none' }));
  }

  renderCampaigns() {
    const rows = [...this.campaigns.entries()].map(([id, c]) => h('tr', { dataset: { campaignId: id } },
      h('th', { scope: 'row', text: c.name }),
      h('td', {}, enumText(h('span'), 'run', c.state)),
      h('td', { class: 'num attempts' }, String(c.attempts)),
      h('td', { class: 'num answer-rate' }, percent(c.answer_rate)),
      h('td', { class: 'num connected' }, String(c.connected)),
      h('td', { class: 'num rpc' }, String(c.right_party_contacts)),
      h('td', { class: 'num abandoned' }, String(c.abandoned)),
      h('td', {}, abandonCell(c.abandon_rate, c.max_abandon_rate))));
    replaceChildren(this.campaignBody, rows.length ? rows
      : h('tr', {}, h('td', { colspan: String(CAMPAIGN_COLUMNS.length), class: 'empty', t: 'wall.no_campaigns' })));
  }

  // --- actions -------------------------------------------------------------------------

  buildDialog() {
    const select = h('select', { name: 'status' },
      STATUSES.map((s) => h('option', { value: s, t: `status.${s}` })));
    const reason = h('input', { name: 'reason', maxlength: '100' });
    const title = h('h2', { id: 'force-title' });
    const form = h('form', { method: 'dialog' }, title,
      field('force-status', 'wall.new_status', select),
      field('force-reason', 'wall.reason', reason, 'wall.reason_hint'),
      h('div', { class: 'buttons' },
        h('button', { type: 'submit', class: 'primary', value: 'apply', t: 'wall.apply' }),
        h('button', { type: 'button', value: 'cancel', t: 'cancel', onclick: () => dialog.close() })));
    const dialog = h('dialog', { 'aria-labelledby': 'force-title' }, form);
    select.addEventListener('change', () => { reason.required = select.value === 'on_break'; });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      dialog.close();
      this.force(dialog.dataset.agentId, select.value, reason.value.trim());
    });
    dialog.addEventListener('close', () => this.returnFocus && this.returnFocus.focus());
    Object.assign(this, { forceSelect: select, forceReason: reason, forceTitle: title });
    return dialog;
  }

  openDialog(agentId, opener) {
    const agent = this.agents.get(agentId);
    this.returnFocus = opener;
    this.dialog.dataset.agentId = agentId;
    tx(this.forceTitle, 'wall.force_title', { name: agent.name || `#${agentId}` });
    const allowed = FORCIBLE[agent.status] || [];
    for (const option of this.forceSelect.options) option.hidden = !allowed.includes(option.value);
    this.forceSelect.value = allowed[0];
    this.forceReason.value = '';
    this.forceReason.required = this.forceSelect.value === 'on_break';
    this.dialog.showModal();
    this.forceSelect.focus();
  }

  async force(agentId, status, reason) {
    const body = { status };
    if (reason) body.reason = reason;
    try {
      const answer = await api(`/supervisor/agents/${agentId}/status`, { method: 'POST', body });
      notify(`wall.forced_${answer.result}`, { status: { t: `status.${status}` } });
    } catch (error) {
      notifyText(errorText(error));
    }
  }

  async monitor(agentId, mode) {
    const callId = this.agents.get(agentId)?.call_id;
    if (!callId) return;
    try {
      const answer = await api(`/supervisor/calls/${encodeURIComponent(callId)}/monitor`,
        { method: 'POST', body: { mode } });
      notify('monitor.started', { mode: { t: `monitor.${mode}` }, state: answer.state,
        extension: answer.extension });
    } catch (error) {
      notifyText(errorText(error));
    }
  }
}

function abandonCell(rate, cap) {
  const text = h('span', { class: 'rate' }, percent(rate));
  const cell = h('span', { class: 'abandon' }, text);
  if (cap === undefined) return cell;
  cell.append(' / ', h('span', { class: 'cap' }, percent(cap)));
  const meter = h('meter', { min: '0', max: String(cap || 1), high: String((cap || 1) * 0.8),
    optimum: '0', value: String(Math.min(rate ?? 0, cap || 1)) });
  ta(meter, 'aria-label', 'wall.abandon_meter');
  cell.prepend(meter, ' ');
  if (rate !== null && rate !== undefined && rate > cap) {
    cell.classList.add('over');
    cell.append(' ', h('strong', { class: 'over-cap', t: 'wall.over_cap' }));
  }
  return cell;
}
