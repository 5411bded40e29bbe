// Campaigns: their run state and the commands the run-state table allows
// (POST /campaigns/{id}/start|pause|resume|stop; stopping asks to confirm).

import { api } from './api.js';
import { h, replaceChildren } from './dom.js';
import { enumText, errorText, ta, tx } from './i18n.js';
import { percent } from './format.js';
import { notify, notifyText } from './notify.js';

const COMMANDS = {
  draft: ['start'],
  running: ['pause', 'stop'],
  paused: ['resume', 'stop'],
};

export function mount(main) {
  const body = h('tbody');
  main.append(h('section', { class: 'page campaigns', 'aria-labelledby': 'campaigns-page-title' },
    h('div', { class: 'page-head' }, h('h1', { id: 'campaigns-page-title', t: 'camp.title' })),
    h('div', { class: 'card table-wrap' },
      h('table', { class: 'campaign-table' },
        h('caption', { t: 'camp.caption' }),
        h('thead', {}, h('tr', {}, ['camp.name', 'camp.mode', 'camp.rule_pack', 'camp.state',
          'camp.cap', 'camp.commands'].map((key) => h('th', { scope: 'col', t: key })))),
        body))));
  load(body);
  return () => {};
}

async function load(body) {
  try {
    const { items } = await api('/campaigns');
    replaceChildren(body, items.length ? items.map(row)
      : h('tr', {}, h('td', { colspan: '6', class: 'empty', t: 'camp.none' })));
  } catch (error) {
    notifyText(errorText(error));
  }
}

function row(campaign) {
  const tr = h('tr', { dataset: { campaignId: campaign.id } });
  fill(tr, campaign);
  return tr;
}

function fill(tr, campaign) {
  const commands = (COMMANDS[campaign.state] || []).map((command) => {
    const button = h('button', { type: 'button', class: `command ${command}`, t: `camp.${command}`,
      onclick: () => run(tr, campaign, command, button) });
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

async function run(tr, campaign, command, button) {
  if (command === 'stop' && button.dataset.confirm !== 'yes') {
    button.dataset.confirm = 'yes';
    tx(button, 'camp.confirm_stop');
    ta(button, 'aria-label', 'camp.confirm_stop_named', { name: campaign.name });
    return;
  }
  const focusedColumn = tr.contains(document.activeElement);
  try {
    const after = await api(`/campaigns/${campaign.id}/${command}`, { method: 'POST' });
    fill(tr, after);
    notify('camp.done', { name: after.name, state: { t: `run.${after.state}` } });
  } catch (error) {
    notifyText(errorText(error));
  }
  if (focusedColumn) (tr.querySelector('.actions button') || tr.querySelector('th')).focus();
}
