// The wallboard's chart of a campaign's day so far (GET /campaigns/{id}/today): the
// answer rate of each interval, and the abandon rate of the day against the
// campaign's cap (with each interval's own abandon rate beside it). Drawn again when
// the chosen campaign's figures of the day change, at most once per
// `timing.redrawMs` (the intervals are 15 minutes or more; on a busy floor the
// figures change every few seconds, and every supervisor's page would read the day
// again); at once when the supervisor picks another campaign or interval.

import { api } from './api.js';
import { field, h, replaceChildren } from './dom.js';
import { lineChart } from './charts.js';
import { errorText } from './i18n.js';
import { percent } from './format.js';
import { notifyText } from './notify.js';

const STEPS = [15, 30, 60];
export const timing = { redrawMs: 30000 };

export class DayChart {
  constructor() {
    this.seen = ''; // the campaign charted and its figures of the day, as last loaded
    this.seq = 0;
    this.loadedAt = -Infinity; // performance.now() of the last load
    this.later = null; // a load waiting for `timing.redrawMs` to pass
    this.campaign = h('select', { name: 'campaign' });
    this.step = h('select', { name: 'step' },
      STEPS.map((m) => h('option', { value: String(m), t: ['chart.minutes', { n: m }] })));
    this.step.value = '30';
    this.box = h('div', { class: 'day-charts' }, h('p', { class: 'muted', t: 'chart.no_campaign' }));
    this.card = h('section', { class: 'card day-chart', 'aria-labelledby': 'day-title' },
      h('div', { class: 'card-head' }, h('h2', { id: 'day-title', t: 'chart.title' }),
        h('div', { class: 'toolbar' }, field('day-campaign', 'chart.campaign', this.campaign),
          field('day-step', 'chart.step', this.step))),
      this.box);
    this.campaign.addEventListener('change', () => this.load());
    this.step.addEventListener('change', () => this.load());
  }

  // Today's campaigns (id -> figures) as the floor socket last told them.
  campaigns(today) {
    this.today = today;
    const ids = [...today.keys()];
    const chosen = this.campaign.value;
    const same = ids.length === this.campaign.options.length
      && ids.every((id, n) => this.campaign.options[n].value === id);
    if (!same) {
      this.campaign.replaceChildren(...ids.map((id) => h('option', { value: id }, today.get(id).name)));
      this.campaign.value = ids.includes(chosen) ? chosen : (ids[0] || '');
    }
    const id = this.campaign.value;
    if (this.seenNow(id) === this.seen) return;
    const picked = !this.seen.startsWith(`${id}:`);
    const wait = this.loadedAt + timing.redrawMs - performance.now();
    if (picked || wait <= 0) this.load();
    else if (!this.later) this.later = setTimeout(() => this.load(), wait);
  }

  seenNow(id) {
    return `${id}:${JSON.stringify((this.today && this.today.get(id)) || null)}`;
  }

  stop() {
    clearTimeout(this.later);
    this.seq += 1; // an answer still on its way is not drawn
  }

  async load() {
    clearTimeout(this.later);
    this.later = null;
    this.loadedAt = performance.now();
    const id = this.campaign.value;
    this.seen = this.seenNow(id);
    const seq = ++this.seq;
    if (!id) {
      replaceChildren(this.box, h('p', { class: 'muted', t: 'chart.no_campaign' }));
      return;
    }
    try {
      const day = await api(`/campaigns/${encodeURIComponent(id)}/today?step=${this.step.value}`);
      if (seq === this.seq) this.render(day);
    } catch (error) {
      notifyText(errorText(error));
    }
  }

  render(day) {
    this.card.dataset.campaignId = day.campaign_id;
    if (!day.points.length) {
      replaceChildren(this.box, h('p', { class: 'muted', t: 'chart.no_calls' }));
      return;
    }
    const labels = day.points.map((p) => p.from.slice(11, 16));
    const column = (name) => day.points.map((p) => p[name]);
    const toDate = column('abandon_rate_to_date');
    const interval = column('abandon_rate');
    const highest = Math.max(...[...toDate, ...interval].filter(Number.isFinite), 0);
    const format = (value) => percent(value);
    const args = { name: day.name };
    replaceChildren(this.box,
      lineChart({ captionKey: 'chart.answer_caption', captionArgs: args, labels, max: 1,
        series: [{ name: 'chart.answer_rate', cls: 'answer', values: column('answer_rate') }],
        cap: null, format, rowHeadKey: 'chart.interval' }),
      lineChart({ captionKey: 'chart.abandon_caption', captionArgs: args, labels,
        max: Math.max(day.max_abandon_rate * 2, highest, 0.01),
        series: [{ name: 'chart.abandon_to_date', cls: 'abandon', values: toDate },
          { name: 'chart.abandon_interval', cls: 'abandon-interval', values: interval }],
        cap: { value: day.max_abandon_rate, labelKey: 'chart.cap' }, format,
        rowHeadKey: 'chart.interval' }));
  }
}
