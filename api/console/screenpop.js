// The screen-pop of the call an agent holds: the case, the person called (masked as
// the API sends them), the script the agent may follow with that party, the open
// promises and the last actions.

import { h } from './dom.js';
import { date, dateTime, money } from './format.js';
import { enumText, lang, tx } from './i18n.js';

const SCRIPT_STEPS = 4;

function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.flatMap(([key, value]) => [h('dt', { t: key }), h('dd', {}, value)]));
}

function script(pop) {
  const steps = Array.from({ length: SCRIPT_STEPS }, (_, n) => `script.${pop.script}.${n + 1}`);
  return h('section', { class: 'script', dataset: { script: pop.script }, 'aria-labelledby': 'script-title' },
    h('h3', { id: 'script-title', t: `script.${pop.script}` }),
    h('ol', {}, steps.map((key) => h('li', { t: [key, { party: { t: `party.${pop.phone.party}` } }] }))));
}

function codeLabel(codes, code) {
  const found = codes.get(code);
  if (!found) return code;
  return `${code} · ${lang() === 'zh' ? found.label_zh : found.label_en}`;
}

export function renderPop(pop, codes) {
  const c = pop.case;
  const promises = pop.open_promises.length
    ? h('ul', { class: 'history' }, pop.open_promises.map((p) => h('li', {},
      tx(h('span'), 'pop.promise', { amount: money(p.amount, c.currency), due: date(p.due_date) }))))
    : h('p', { class: 'muted', t: 'pop.no_promises' });
  const history = pop.last_actions.length
    ? h('ul', { class: 'history' }, pop.last_actions.map((a) => h('li', { dataset: { code: a.code } },
      h('strong', {}, codeLabel(codes, a.code)), ` · ${dateTime(a.created_at)}`, a.note ? ` · ${a.note}` : '')))
    : h('p', { class: 'muted', t: 'pop.no_history' });
  return h('div', { class: 'pop', dataset: { callId: pop.call_id, caseId: c.id } },
    h('p', { class: 'balance' }, money(c.balance, c.currency)),
    facts([
      ['pop.account', c.account_no],
      ['pop.product', enumText(h('span'), 'product', c.product)],
      ['pop.bucket', `${c.bucket} · ${c.days_past_due}`],
      ['pop.case_status', enumText(h('span'), 'case', c.status)],
      ['pop.debtor', [pop.debtor.name, pop.debtor.id_no, pop.debtor.city].filter(Boolean).join(' · ')],
      ['pop.called', h('span', {}, `${pop.phone.number} · `, enumText(h('span'), 'party', pop.phone.party),
        pop.phone.relation ? ` (${pop.phone.relation})` : '')],
    ]),
    script(pop),
    h('h3', { t: 'pop.promises' }), promises,
    h('h3', { t: 'pop.history' }), history);
}
