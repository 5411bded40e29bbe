// A client's agent evaluation of a month (GET /clients/{id}/evaluations/{month}):
// how many agents are in each tier, charted, and each agent's rank, score and tier.
// A bank's auditor sees published evaluations only (the API says 404 otherwise).
// The evaluation names agents by id; their names come from the month's report by
// agent, read here unless the page shows that report already.

import { api, ApiError } from './api.js';
import { barChart } from './charts.js';
import { h, replaceChildren } from './dom.js';
import { percent } from './format.js';
import { enumText, errorText, onLangChange, t, tx } from './i18n.js';
import { notifyText } from './notify.js';

const TIERS = ['excellent', 'good', 'qualified', 'below', 'not_rated'];
const HEADS = ['tier.agent', 'tier.rank', 'tier.score', 'tier.tier', 'rep.recovery_rate',
  'rep.compliance_rate', 'tier.flagged'];

export class TierView {
  constructor() {
    this.seq = 0;
    this.box = h('div', { class: 'tier-box' }, h('p', { class: 'muted', t: 'tier.pick_client' }));
    this.card = h('section', { class: 'card tiers', 'aria-labelledby': 'tiers-title' },
      h('h2', { id: 'tiers-title', t: 'tier.title' }), this.box);
    this.unlisten = onLangChange(() => this.draw());
  }

  stop() {
    this.unlisten();
  }

  async show(clientId, month, names) {
    const seq = ++this.seq;
    this.evaluation = null;
    if (!clientId) {
      replaceChildren(this.box, h('p', { class: 'muted', t: 'tier.pick_client' }));
      return;
    }
    let evaluation;
    try {
      evaluation = await api(`/clients/${encodeURIComponent(clientId)}/evaluations/${month}`);
    } catch (error) {
      if (seq !== this.seq) return;
      if (error instanceof ApiError && error.status === 404) {
        replaceChildren(this.box, h('p', { class: 'muted', t: ['tier.none', { month }] }));
      } else {
        notifyText(errorText(error));
      }
      return;
    }
    const known = names || (evaluation.rows.length ? await agentNames(clientId, month) : new Map());
    if (seq !== this.seq) return;
    this.evaluation = evaluation;
    this.names = known;
    this.draw();
  }

  draw() {
    const evaluation = this.evaluation;
    if (!evaluation) return;
    const counts = TIERS.map((tier) => evaluation.rows.filter((r) => (r.tier || 'not_rated') === tier).length);
    const chart = barChart({
      captionKey: 'tier.caption', captionArgs: { month: evaluation.month },
      groups: TIERS.map((tier) => t(`tier.${tier}`)),
      series: [{ name: 'tier.agents', cls: 'tier', values: counts }],
      max: Math.max(1, ...counts), format: (v) => (v === null || v === undefined ? '—' : String(v)),
      rowHeadKey: 'tier.tier',
    });
    const status = enumText(h('span', { class: 'badge', dataset: { evaluation: evaluation.status } }),
      'evaluation', evaluation.status);
    replaceChildren(this.box, h('p', { class: 'evaluation-status' },
      tx(h('span'), 'tier.status', { month: evaluation.month }), ' ', status), chart,
    h('table', { class: 'tier-table' },
      h('thead', {}, h('tr', {}, HEADS.map((key) => h('th', { scope: 'col', t: key })))),
      h('tbody', {}, evaluation.rows.map((r) => this.row(r)))));
  }

  row(r) {
    const name = this.names.get(r.agent_id);
    return h('tr', { dataset: { agentId: r.agent_id, tier: r.tier || 'not_rated' } },
      name ? h('th', { scope: 'row' }, name) : h('th', { scope: 'row', t: ['cov.agent_id', { id: r.agent_id }] }),
      h('td', { class: 'num' }, r.rank ?? '—'),
      h('td', { class: 'num score' }, r.score ?? '—'),
      h('td', { class: 'tier-name', t: `tier.${r.tier || 'not_rated'}` }),
      h('td', { class: 'num' }, percent(rate(r.recovery_rate))),
      h('td', { class: 'num' }, percent(rate(r.compliance_rate))),
      h('td', { t: r.flagged_for_elimination ? 'tier.flagged_yes' : 'tier.flagged_no' }));
  }
}

function rate(value) {
  return value === null || value === undefined ? null : Number(value);
}

async function agentNames(clientId, month) {
  try {
    const params = new URLSearchParams({ month, by: 'agent', client_id: clientId });
    const report = await api(`/reports/monthly?${params}`);
    return new Map(report.rows.map((row) => [row.group_id, row.group_name]));
  } catch {
    return new Map(); // the ids are shown instead
  }
}
