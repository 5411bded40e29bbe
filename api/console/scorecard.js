// The scorecard form of a call: every item of the client's scorecard in force (GET
// /clients/{id}/scorecard) answered pass / fail / n.a., comments at moments of the
// call, POST /qa/reviews; the result (score, auto-failed items). Item labels come
// from the UI text (score.<key>) when it knows the key, else the scorecard's own.

import { api } from './api.js';
import { field, h, replaceChildren } from './dom.js';
import { clock } from './format.js';
import { errorText, has, ta, tx } from './i18n.js';
import { notify } from './notify.js';

const ANSWERS = ['pass', 'fail', 'na'];
const cards = new Map(); // client id -> its scorecard, read once while the console is open

async function scorecardOf(clientId) {
  if (!cards.has(clientId)) cards.set(clientId, api(`/clients/${clientId}/scorecard`));
  try {
    return await cards.get(clientId);
  } catch (error) {
    cards.delete(clientId);
    throw error;
  }
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
      const card = await scorecardOf(recording.client_id);
      if (this.recording === recording) replaceChildren(this.box, this.form(card.items));
    } catch (error) {
      replaceChildren(this.box, h('p', { class: 'error', role: 'alert', text: errorText(error) }));
    }
  }

  form(cardItems) {
    const keys = cardItems.map((item) => item.key);
    const items = cardItems.map((item) => this.item(item));
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

  item({ key, label, auto_fail: autoFail }) {
    const legend = h('legend', {}, has(`score.${key}`) ? h('span', { t: `score.${key}` }) : label);
    if (autoFail) legend.append(' ', h('span', { class: 'auto-fail', t: 'qa.auto_fail' }));
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
