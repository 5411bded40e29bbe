// Reports for managers and the bank: a month's figures by client, batch, campaign or
// agent (GET /reports/monthly), charted (recovery rate, promises kept, compliance
// rate) and tabled, the same report downloaded as the API's CSV; and the month's
// agent tiers (tiers.js). A client's auditor sees their own client only (the API
// enforces it; the client list offers only theirs).

import { api, download, saveFile } from './api.js';
import { barChart } from './charts.js';
import { field, h, replaceChildren } from './dom.js';
import { amount, percent } from './format.js';
import { errorText, onLangChange, t } from './i18n.js';
import { notify, notifyText } from './notify.js';
import { TierView } from './tiers.js';

const GROUPS = ['client', 'batch', 'campaign', 'agent'];
const RATES = [
  { key: 'recovery_rate', name: 'rep.recovery_rate', cls: 'recovery' },
  { key: 'ptp_kept_rate', name: 'rep.ptp_kept_rate', cls: 'kept' },
  { key: 'compliance_rate', name: 'rep.compliance_rate', cls: 'compliance' },
];
// The table's columns: the report's field, its heading, how it is shown.
const COLUMNS = [
  ['accounts', 'rep.accounts', String], ['amount_assigned', 'rep.amount_assigned', amount],
  ['amount_recovered', 'rep.amount_recovered', amount], ['recovery_rate', 'rep.recovery_rate', percent],
  ['promises_due', 'rep.promises_due', String], ['ptp_kept_rate', 'rep.ptp_kept_rate', percent],
  ['compliance_rate', 'rep.compliance_rate', percent],
  ['right_party_contact_rate', 'rep.rpc_rate', percent], ['abandon_rate', 'rep.abandon_rate', percent],
  ['qa_reviewed_rate', 'rep.qa_reviewed_rate', percent],
];
const CHART_GROUPS = 15; // more groups are in the table only

function thisMonth() {
  const now = new Date();
  return `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, '0')}`;
}

export function mount(main, { user }) {
  const page = new Reports(main, user);
  page.start();
  return () => page.stop();
}

class Reports {
  constructor(main, user) {
    this.scoped = user.client_id !== null && user.client_id !== undefined; // a bank's auditor
    this.month = h('input', { type: 'month', name: 'month', required: true, value: thisMonth(),
      pattern: '[0-9]{4}-[0-9]{2}' });
    this.client = h('select', { name: 'client' });
    this.by = h('select', { name: 'by' }, GROUPS.map((g) => h('option', { value: g, t: `rep.by_${g}` })));
    this.csv = h('button', { type: 'button', t: 'rep.csv', onclick: () => this.downloadCsv() });
    const form = h('form', { class: 'toolbar' }, field('report-month', 'rep.month', this.month),
      field('report-client', 'rep.client', this.client), field('report-by', 'rep.by', this.by),
      h('button', { type: 'submit', class: 'primary', t: 'rep.show' }), this.csv);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.load();
    });
    this.chartBox = h('div', { class: 'report-chart' });
    this.body = h('tbody');
    this.definitions = h('dl', { class: 'definitions' });
    this.tiers = new TierView();
    main.append(h('section', { class: 'page reports', 'aria-labelledby': 'reports-title' },
      h('div', { class: 'page-head' }, h('h1', { id: 'reports-title', t: 'rep.title' })),
      h('div', { class: 'card' }, form),
      h('div', { class: 'report-grid' },
        h('section', { class: 'card', 'aria-labelledby': 'figures-title' },
          h('h2', { id: 'figures-title', t: 'rep.figures' }), this.chartBox),
        this.tiers.card),
      h('div', { class: 'card table-wrap' },
        h('table', { class: 'report-table' }, h('caption', { t: 'rep.caption' }),
          h('thead', {}, h('tr', {}, h('th', { scope: 'col', t: 'rep.group' }),
            COLUMNS.map(([, key]) => h('th', { scope: 'col', class: 'num', t: key })))),
          this.body),
        h('details', { class: 'chart-table' }, h('summary', { t: 'rep.definitions' }), this.definitions))));
    this.unlisten = onLangChange(() => this.draw());
  }

  async start() {
    try {
      const { items } = await api('/clients');
      this.client.replaceChildren(
        ...(this.scoped ? [] : [h('option', { value: '', t: 'rep.all_clients' })]),
        ...items.map((c) => h('option', { value: String(c.id) }, `${c.code} · ${c.name}`)));
    } catch (error) {
      notifyText(errorText(error));
    }
    this.load();
  }

  stop() {
    this.unlisten();
    this.tiers.stop();
  }

  query(format) {
    const params = new URLSearchParams({ month: this.month.value, by: this.by.value, format });
    if (this.client.value) params.set('client_id', this.client.value);
    return `/reports/monthly?${params}`;
  }

  async load() {
    if (!this.month.checkValidity()) {
      this.month.focus();
      return;
    }
    try {
      this.report = await api(this.query('json'));
      this.draw();
      const names = this.report.by === 'agent'
        ? new Map(this.report.rows.map((r) => [r.group_id, r.group_name])) : null;
      this.tiers.show(this.client.value, this.report.month, names);
    } catch (error) {
      notifyText(errorText(error));
    }
  }

  draw() {
    const report = this.report;
    if (!report) return;
    const rows = report.rows;
    const by = { t: `rep.by_${report.by}` };
    replaceChildren(this.chartBox, rows.length
      ? barChart({ captionKey: 'rep.chart_caption', captionArgs: { month: report.month, by },
        groups: rows.slice(0, CHART_GROUPS).map((r) => groupName(r)),
        series: RATES.map((rate) => ({ ...rate, values: rows.slice(0, CHART_GROUPS).map((r) => r[rate.key]) })),
        max: 1, format: (v) => percent(v), rowHeadKey: `rep.by_${report.by}` })
      : h('p', { class: 'muted', t: 'rep.none' }));
    replaceChildren(this.body, rows.length ? rows.map((r) => h('tr', { dataset: { groupId: r.group_id ?? '' } },
      h('th', { scope: 'row' }, groupName(r)),
      COLUMNS.map(([name, , show]) => h('td', { class: `num ${name}` }, r[name] === null ? '—' : show(r[name])))))
      : h('tr', {}, h('td', { colspan: String(COLUMNS.length + 1), class: 'empty', t: 'rep.none' })));
    replaceChildren(this.definitions, Object.entries(report.definitions)
      .flatMap(([name, text]) => [h('dt', {}, name), h('dd', {}, text)]));
  }

  async downloadCsv() {
    this.csv.disabled = true;
    try {
      const { blob, name } = await download(this.query('csv'));
      saveFile(blob, name);
      notify('rep.downloaded', { name });
    } catch (error) {
      notifyText(errorText(error));
    } finally {
      this.csv.disabled = false;
    }
  }
}

function groupName(row) {
  return row.group_id === null ? t('rep.no_group') : row.group_name;
}
