// QA coverage: per agent, the month's recorded calls, the share sampled and the
// share reviewed (GET /qa/coverage); an agent under 15% is marked. QA and admins
// also draw the month's sample here (POST /qa/samples).

import { api, ApiError } from './api.js';
import { field, h, replaceChildren } from './dom.js';
import { percent } from './format.js';
import { errorText, tx } from './i18n.js';
import { notify, notifyText } from './notify.js';

const SAMPLERS = ['qa', 'admin'];

function thisMonth() {
  const now = new Date();
  return `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, '0')}`;
}

export function mount(main, { user }) {
  const month = h('input', { type: 'month', name: 'month', required: true, value: thisMonth(),
    pattern: '[0-9]{4}-[0-9]{2}' });
  const banner = h('p', { class: 'notice', role: 'alert', hidden: true });
  const body = h('tbody');
  const form = h('form', { class: 'toolbar' }, field('coverage-month', 'cov.month', month),
    h('button', { type: 'submit', class: 'primary', t: 'cov.show' }));
  const seed = h('input', { name: 'seed', maxlength: '100' });
  const draw = h('form', { class: 'toolbar' }, field('sample-seed', 'cov.seed', seed, 'cov.seed_hint'),
    h('button', { type: 'submit', t: 'cov.draw' }));
  const load = () => show(month.value, body, banner);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    load();
  });
  draw.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const answer = await api('/qa/samples', { method: 'POST',
        body: { month: month.value, seed: seed.value.trim() || month.value } });
      notify('cov.drawn', { n: answer.sampled, month: answer.month });
      load();
    } catch (error) {
      notifyText(errorText(error));
    }
  });
  main.append(h('section', { class: 'page coverage', 'aria-labelledby': 'coverage-title' },
    h('div', { class: 'page-head' }, h('h1', { id: 'coverage-title', t: 'cov.title' })),
    h('div', { class: 'card' }, form, SAMPLERS.includes(user.role) ? draw : null, banner,
      h('table', {},
        h('caption', { t: 'cov.caption' }),
        h('thead', {}, h('tr', {}, ['cov.agent', 'cov.calls', 'cov.sampled', 'cov.sampled_share',
          'cov.reviewed', 'cov.reviewed_share', 'cov.status'].map((key, n) => h('th', {
          scope: 'col', t: key, class: n > 0 && n < 6 ? 'num' : null })))),
        body))));
  load();
  return () => {};
}

async function show(month, body, banner) {
  let report;
  banner.hidden = true;
  try {
    report = (await api(`/qa/coverage?month=${encodeURIComponent(month)}`)).agents;
  } catch (error) {
    if (!(error instanceof ApiError) || error.errorId !== 'qa.coverage_short') {
      notifyText(errorText(error));
      return;
    }
    report = error.details.report;
    tx(banner, 'cov.short', { n: report.filter((row) => row.short).length });
    banner.hidden = false;
  }
  replaceChildren(body, report.length ? report.map(row)
    : h('tr', {}, h('td', { colspan: '7', class: 'empty', t: 'cov.none' })));
}

function row(agent) {
  return h('tr', { dataset: { agentId: agent.agent_id }, class: agent.short ? 'short-row' : null },
    agent.agent_name ? h('th', { scope: 'row', text: agent.agent_name })
      : h('th', { scope: 'row', t: ['cov.agent_id', { id: agent.agent_id }] }),
    h('td', { class: 'num' }, String(agent.calls)),
    h('td', { class: 'num' }, String(agent.sampled)),
    h('td', { class: 'num' }, percent(agent.sampled_share)),
    h('td', { class: 'num' }, String(agent.reviewed)),
    h('td', { class: 'num' }, percent(agent.reviewed_share)),
    h('td', { class: agent.short ? 'short' : 'ok', t: agent.short ? 'cov.is_short' : 'cov.is_ok' }));
}
