// Campaigns: their run state and the commands the run-state table allows
// (POST /campaigns/{id}/start|pause|resume|stop; stopping asks to confirm). Under
// each campaign, a disclosure with its last 24 hours (GET /campaigns/{id},
// `last_24h`): the attempts placed and the compliance refusals by reason, most
// first, each reason named in the UI language next to the stable code auditors
// quote. The figures are fetched when the page opens, after a run command, and on
// request.

import { api } from './api.js';
import { h, replaceChildren } from './dom.js';
import { enumText, errorText, onLangChange, ta, tx } from './i18n.js';
import { dateTime, percent } from './format.js';
import { notify, notifyText } from './notify.js';

const COMMANDS = {
  draft: ['start'],
  running: ['pause', 'stop'],
  paused: ['resume', 'stop'],
};
const COLUMNS = ['camp.name', 'camp.mode', 'camp.rule_pack', 'camp.state', 'camp.cap',
  'camp.commands'];

export function mount(main) {
  const body = h('tbody');
  const panels = [];
  main.append(h('section', { class: 'page campaigns', 'aria-labelledby': 'campaigns-page-title' },
    h('div', { class: 'page-head' }, h('h1', { id: 'campaigns-page-title', t: 'camp.title' })),
    h('div', { class: 'card table-wrap' },
      h('table', { class: 'campaign-table' },
        h('caption', { t: 'camp.caption' }),
        h('thead', {}, h('tr', {}, COLUMNS.map((key) => h('th', { scope: 'col', t: key })))),
        body))));
  load(body, panels);
  // Captions hold a formatted time: drawn again in the new language.
  const unlisten = onLangChange(() => panels.forEach((panel) => panel.draw()));
  return () => unlisten();
}

async function load(body, panels) {
  try {
    const { items } = await api('/campaigns');
    const rows = items.map((campaign) => {
      const figures = new Figures(campaign);
      panels.push(figures);
      return [row(campaign, figures), figures.row];
    });
    replaceChildren(body, rows.length ? rows
      : h('tr', {}, h('td', { colspan: String(COLUMNS.length), class: 'empty', t: 'camp.none' })));
    panels.forEach((panel) => panel.refresh());
  } catch (error) {
    notifyText(errorText(error));
  }
}

function row(campaign, figures) {
  const tr = h('tr', { dataset: { campaignId: campaign.id } });
  fill(tr, campaign, figures);
  return tr;
}

function fill(tr, campaign, figures) {
  const commands = (COMMANDS[campaign.state] || []).map((command) => {
    const button = h('button', { type: 'button', class: `command ${command}`, t: `camp.${command}`,
      onclick: () => run(tr, campaign, command, button, figures) });
    ta(button, 'aria-label', `camp.${command}_named`, { name: campaign.name });
    return button;
  });
  replaceChildren(tr,
    h('th', { scope: 'row', tabindex: '-1', text: campaign.name }),
    h('td', {}, enumText(h('span'), 'mode', campaign.mode)),
    h('td', { text: campaign.rule_pack }),
    h('td', { class: 'state' }, enumText(h('span', { class: 'badge', dataset: { run: campaign.state } }), 'run', campaign.state)),
    h('td', { class: 'num' }, percent(campaign.max_abandon_rate)),
    h('td', { class: 'actions' }, commands.length ? commands : h('span', { class: 'muted', t: 'camp.no_commands' })));
}

async function run(tr, campaign, command, button, figures) {
  if (command === 'stop' && button.dataset.confirm !== 'yes') {
    button.dataset.confirm = 'yes';
    tx(button, 'camp.confirm_stop');
    ta(button, 'aria-label', 'camp.confirm_stop_named', { name: campaign.name });
    return;
  }
  const focusedColumn = tr.contains(document.activeElement);
  try {
    const after = await api(`/campaigns/${campaign.id}/${command}`, { method: 'POST' });
    fill(tr, after, figures);
    notify('camp.done', { name: after.name, state: { t: `run.${after.state}` } });
    figures.refresh();
  } catch (error) {
    notifyText(errorText(error));
  }
  if (focusedColumn) (tr.querySelector('.actions button') || tr.querySelector('th')).focus();
}

// Reasons counted in `refusals_by_reason`, most first (ties by code).
function byCount(counts) {
  return Object.entries(counts || {}).sort(([a, m], [b, n]) => n - m || (a < b ? -1 : a > b ? 1 : 0));
}

// The row under a campaign: its last 24 hours behind a <details>, whose summary
// says the totals; the refresh button stays put while the figures are redrawn.
class Figures {
  constructor(campaign) {
    this.campaign = campaign;
    this.stats = null;
    this.failed = false;
    this.asked = 0; // the latest refresh; older answers are dropped
    this.name = h('span', { class: 'visually-hidden' });
    this.totals = h('span', { class: 'totals' });
    this.figures = h('div', { class: 'refusal-figures' });
    this.note = h('p', { class: 'hint', t: 'camp.reasons_note', hidden: true });
    this.refreshButton = h('button', { type: 'button', class: 'refresh', t: 'camp.refresh',
      onclick: () => this.refresh(true) });
    ta(this.refreshButton, 'aria-label', 'camp.refresh_named', { name: campaign.name });
    this.details = h('details', { class: 'refusals' },
      h('summary', {}, this.name, this.totals),
      h('div', { class: 'refusal-panel' }, this.figures,
        h('div', { class: 'refusal-side' }, this.note, this.refreshButton)));
    this.row = h('tr', { class: 'campaign-figures', dataset: { figuresOf: campaign.id } },
      h('td', { colspan: String(COLUMNS.length) }, this.details));
    this.draw();
  }

  async refresh(asked = false) {
    const mine = ++this.asked;
    this.figures.setAttribute('aria-busy', 'true');
    try {
      const { last_24h: stats } = await api(`/campaigns/${this.campaign.id}`);
      if (mine !== this.asked) return;
      this.stats = stats;
      this.failed = false;
      if (asked) notify('camp.refreshed', { name: this.campaign.name });
    } catch (error) {
      if (mine !== this.asked) return;
      this.failed = true;
      notifyText(errorText(error));
    }
    this.figures.removeAttribute('aria-busy');
    this.draw();
  }

  draw() {
    tx(this.name, 'camp.figures_of', { name: this.campaign.name });
    const stats = this.stats;
    if (!stats) {
      tx(this.totals, this.failed ? 'camp.figures_failed' : 'camp.figures_loading');
      replaceChildren(this.figures);
      return;
    }
    const reasons = byCount(stats.refusals_by_reason);
    tx(this.totals, 'camp.last_24h', { attempts: stats.attempts, refusals: stats.refusals });
    this.note.hidden = reasons.length === 0;
    const since = dateTime(stats.since);
    replaceChildren(this.figures, reasons.length ? this.table(reasons, since)
      : h('p', { class: 'empty', t: ['camp.no_refusals', { since }] }));
  }

  table(reasons, since) {
    return h('table', { class: 'refusal-table' },
      h('caption', { t: ['camp.refusals_caption', { name: this.campaign.name, since }] }),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col', t: 'camp.reason' }),
        h('th', { scope: 'col', t: 'camp.reason_code' }),
        h('th', { scope: 'col', class: 'num', t: 'camp.refusals' }))),
      h('tbody', {}, reasons.map(([code, n]) => h('tr', { dataset: { reason: code } },
        enumText(h('th', { scope: 'row', class: 'label' }), 'refusal', code),
        h('td', {}, h('code', { text: code })),
        h('td', { class: 'num count', text: n })))));
  }
}
