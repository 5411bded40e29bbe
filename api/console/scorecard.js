// The scorecard form of a call: every item answered pass / fail / n.a., comments at
// moments of the call, POST /qa/reviews; the result (score, auto-failed items).
//
// The API has no route that lists a client's scorecard items, so the form learns
// the item keys from the review route itself: a review with no answers is refused
// with the keys it misses (details.missing); nothing is stored. Labels come from
// the UI text (score.<key>), else the key is shown.

import { api, ApiError } from './api.js';
import { field, h, replaceChildren } from './dom.js';
import { clock } from './format.js';
import { errorText, has, ta, tx } from './i18n.js';
import { notify } from './notify.js';

const ANSWERS = ['pass', 'fail', 'na'];
const AUTO_FAIL = new Set(['no_threats', 'no_third_party', 'no_impersonation']);
// The standard form's order (transcription.scorecard.DEFAULT_ITEMS); other keys follow.
const ORDER = ['opening', 'verification', 'courtesy', 'negotiation', 'arrangement', 'closing',
  'no_threats', 'no_third_party', 'no_impersonation'];

function rank(key) {
  const at = ORDER.indexOf(key);
  return at < 0 ? ORDER.length : at;
}
const keysByClient = new Map();

async function itemKeys(recordingId, clientId) {
  if (keysByClient.has(clientId)) return keysByClient.get(clientId);
  try {
    await api('/qa/reviews', { method: 'POST', body: { recording_id: recordingId, answers: {} } });
  } catch (error) {
    if (error instanceof ApiError && Array.isArray(error.details.missing)) {
      const keys = [...error.details.missing].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
      keysByClient.set(clientId, keys);
      return keys;
    }
    throw error;
  }
  return [];
}

export class ScorecardForm {
  constructor(audio, onReviewed) {
    this.audio = audio;
    this.onReviewed = onReviewed;
    this.comments = [];
    this.box = h('div', { class: 'scorecard-body' }, h('p', { class: 'muted', t: 'qa.pick_first' }));
  }

  async show(recording) {
    this.recording = recording;
    this.comments = [];
    replaceChildren(this.box, h('p', { class: 'muted', t: 'qa.loading' }));
    try {
      const keys = await itemKeys(recording.id, recording.client_id);
      if (this.recording === recording) replaceChildren(this.box, this.form(keys));
    } catch (error) {
      replaceChildren(this.box, h('p', { class: 'error', role: 'alert', text: errorText(error) }));
    }
  }

  form(keys) {
    const items = keys.map((key) => this.item(key));
    this.commentText = h('input', { name: 'comment', maxlength: '2000' });
    this.commentList = h('ul', { class: 'comments' });
    const addComment = h('button', { type: 'button', t: 'qa.add_comment', onclick: () => this.addComment() });
    this.result = h('div', { class: 'result', role: 'status' });
    const submit = h('button', { type: 'submit', class: 'primary', t: 'qa.submit' });
    const form = h('form', { 'aria-labelledby': 'scorecard-title' }, items,
      field('comment-text', 'qa.comment', this.commentText, 'qa.comment_hint'), addComment,
      this.commentList, h('div', { class: 'buttons' }, submit), this.result);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.submit(form, keys, submit);
    });
    return form;
  }

  item(key) {
    const legend = h('legend', {}, has(`score.${key}`) ? h('span', { t: `score.${key}` }) : key);
    if (AUTO_FAIL.has(key)) legend.append(' ', h('span', { class: 'auto-fail', t: 'qa.auto_fail' }));
    const choices = ANSWERS.map((answer) => {
      const id = `answer-${key}-${answer}`;
      return h('span', {}, h('input', { type: 'radio', id, name: key, value: answer, required: true }),
        ' ', h('label', { for: id, t: `answer.${answer}` }));
    });
    return h('fieldset', { dataset: { item: key } }, legend, h('div', { class: 'choices' }, choices));
  }

  addComment() {
    const text = this.commentText.value.trim();
    if (!text) {
      this.commentText.focus();
      return;
    }
    const at = Math.round(this.audio.currentTime * 1000) / 1000;
    const comment = { at, text };
    this.comments.push(comment);
    const remove = h('button', { type: 'button', t: 'qa.remove' });
    ta(remove, 'aria-label', 'qa.remove_comment', { time: clock(at) });
    const item = h('li', {}, `${clock(at)} — ${text} `, remove);
    remove.addEventListener('click', () => {
      this.comments.splice(this.comments.indexOf(comment), 1);
      item.remove();
      this.commentText.focus();
    });
    this.commentList.append(item);
    this.commentText.value = '';
  }

  async submit(form, keys, button) {
    const answers = Object.fromEntries(keys.map((key) => [key, form.elements[key].value]));
    button.disabled = true;
    try {
      const review = await api('/qa/reviews', { method: 'POST', body: {
        recording_id: this.recording.id, answers, comments: this.comments,
      } });
      const key = review.compliant ? 'qa.reviewed' : 'qa.reviewed_failed';
      tx(this.result, key, { score: review.score.toFixed(2), items: review.auto_failed.join(', ') });
      for (const control of form.elements) control.disabled = true;
      notify(key, { score: review.score.toFixed(2), items: review.auto_failed.join(', ') });
      this.onReviewed(this.recording.id);
    } catch (error) {
      this.result.textContent = errorText(error);
      button.disabled = false;
    }
  }
}
