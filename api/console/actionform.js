// Filing the call's action code: the codes from GET /action-codes, the fields the
// chosen code requires (required_fields), POST /agent/call/action with an
// Idempotency-Key made once per call, so a retry after a lost answer files nothing
// twice. The API's field errors are shown at their fields.

import { api, ApiError, idempotencyKey } from './api.js';
import { field, h, replaceChildren } from './dom.js';
import { errorText, lang, t, tx } from './i18n.js';
import { notify } from './notify.js';

// The API's field errors (cases.effects) in English; known ones are shown in the UI
// language, others as the API words them.
const FIELD_ERRORS = {
  'required': 'act.required',
  'unknown field': 'act.err.unknown',
  'is in the past': 'act.err.past',
  'must be more than 0': 'act.err.positive',
  'must be a positive amount with at most 2 decimals, like 1500.00': 'act.err.amount',
  'must be a date like 2026-12-31': 'act.err.date',
  'is more than 90 days ahead': 'act.err.too_far',
  'must be a time like 2026-12-01T10:30:00+08:00': 'act.err.time',
  'must not be empty': 'act.err.empty',
  'is longer than 4000 characters': 'act.err.too_long',
  'must be the number of an approved request, like 42': 'act.err.approval',
};
const HIDDEN_CODES = new Set(['NOCODE']); // the service's own code when a wrap-up runs out
const CATEGORIES = ['contact', 'third_party', 'no_contact', 'dispute', 'lost_contact', 'closure'];

function control(name) {
  switch (name) {
    case 'amount':
      return h('input', { name, inputmode: 'decimal', pattern: '[0-9]{1,16}([.][0-9]{1,2})?', autocomplete: 'off' });
    case 'due_date':
      return h('input', { name, type: 'date' });
    case 'callback_at':
      return h('input', { name, type: 'datetime-local' });
    case 'approval_id':
      return h('input', { name, type: 'number', min: '1', step: '1' });
    default:
      return h('textarea', { name, rows: '2', maxlength: '4000' });
  }
}

export class ActionForm {
  constructor(onFiled) {
    this.onFiled = onFiled;
    this.codes = new Map();
    this.box = h('div', { class: 'action-form' }, h('p', { class: 'muted', t: 'act.no_call' }));
  }

  async loadCodes() {
    const { items } = await api('/action-codes');
    this.codes = new Map(items.filter((c) => !HIDDEN_CODES.has(c.code)).map((c) => [c.code, c]));
    return this.codes;
  }

  // A new call: a fresh form and a fresh key.
  start(pop) {
    this.pop = pop;
    this.key = idempotencyKey();
    this.select = h('select', { name: 'code', required: true },
      h('option', { value: '', t: 'act.choose' }),
      CATEGORIES.map((category) => {
        const codes = [...this.codes.values()].filter((c) => c.category === category);
        return codes.length ? h('optgroup', { label: t(`category.${category}`), dataset: { category } },
          codes.map((c) => h('option', { value: c.code }, `${c.code} · ${lang() === 'zh' ? c.label_zh : c.label_en}`))) : null;
      }));
    this.fields = h('div', { class: 'fields' });
    this.result = h('p', { class: 'result', role: 'status' });
    this.submit = h('button', { type: 'submit', class: 'primary', t: 'act.file' });
    this.form = h('form', { 'aria-labelledby': 'action-title', novalidate: true },
      field('action-code', 'act.code', this.select), this.fields, this.submit, this.result);
    this.select.addEventListener('change', () => this.showFields());
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.file();
    });
    replaceChildren(this.box, this.form);
  }

  showFields() {
    const code = this.codes.get(this.select.value);
    const names = code ? [...code.required_fields] : [];
    if (code && !names.includes('note')) names.push('note');
    replaceChildren(this.fields, names.map((name) => {
      const input = control(name);
      const required = code.required_fields.includes(name);
      input.required = required;
      const wrapper = field(`action-${name}`, required ? `act.field.${name}` : 'act.field.note_optional',
        input, `act.hint.${name}`);
      input.addEventListener('input', () => {
        this.markField(name, '');
        if (this.result.classList.contains('error')) this.result.textContent = '';
      });
      wrapper.append(h('small', { class: 'field-error', id: `action-${name}-error` }));
      return wrapper;
    }));
  }

  body() {
    const body = { code: this.select.value };
    for (const input of this.fields.querySelectorAll('input, textarea')) {
      const value = input.value.trim();
      if (!value) continue;
      body[input.name] = input.name === 'approval_id' ? Number(value) : value;
    }
    return body;
  }

  check() {
    let first = null;
    if (!this.select.value) first = this.select;
    for (const input of this.fields.querySelectorAll('input, textarea')) {
      const missing = input.required && !input.value.trim();
      const bad = missing || !input.checkValidity();
      this.markField(input.name, bad ? (missing ? t('act.required') : t('act.invalid')) : '');
      if (bad && !first) first = input;
    }
    if (first) first.focus();
    return first === null;
  }

  markField(name, message) {
    const input = this.fields.querySelector(`[name="${name}"]`);
    const error = this.fields.querySelector(`#action-${name}-error`);
    if (!input || !error) return;
    error.textContent = message;
    if (message) {
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', `action-${name}-hint action-${name}-error`);
    } else {
      input.removeAttribute('aria-invalid');
      input.setAttribute('aria-describedby', `action-${name}-hint`);
    }
  }

  async file() {
    this.result.textContent = '';
    if (!this.check()) return;
    this.submit.disabled = true;
    try {
      const filed = await api('/agent/call/action', {
        method: 'POST', body: this.body(), headers: { 'Idempotency-Key': this.key },
      });
      this.done(filed);
    } catch (error) {
      this.failed(error);
    } finally {
      this.submit.disabled = false;
    }
  }

  done(filed) {
    const args = { code: filed.code, account: this.pop.case.account_no };
    for (const control of this.form.elements) control.disabled = true;
    tx(this.result, 'act.filed', args);
    this.result.className = 'result filed';
    notify('act.filed', args);
    this.onFiled(filed);
  }

  failed(error) {
    if (error instanceof ApiError && ['action.invalid_fields', 'action.missing_fields'].includes(error.errorId)) {
      const names = Object.keys(error.details);
      for (const [name, message] of Object.entries(error.details)) {
        this.markField(name, FIELD_ERRORS[message] ? t(FIELD_ERRORS[message]) : message);
      }
      const input = this.fields.querySelector(`[name="${names[0]}"]`);
      if (input) input.focus();
    }
    this.result.className = 'result error';
    this.result.textContent = errorText(error);
  }
}

// The code labels come from the API in both languages: show the current one.
export function relabelCodes(select, codes) {
  if (!select) return;
  for (const option of select.querySelectorAll('option[value]:not([value=""])')) {
    const code = codes.get(option.value);
    if (code) option.textContent = `${code.code} · ${lang() === 'zh' ? code.label_zh : code.label_en}`;
  }
  for (const group of select.querySelectorAll('optgroup')) {
    group.label = t(`category.${group.dataset.category}`);
  }
}
