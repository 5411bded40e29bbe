// QA review: the reviewer's sample queue (GET /qa/queue), the stereo recording in
// an <audio> element with the transcript beside it, QA flags on a timeline, and the
// scorecard form.

import { api } from './api.js';
import { h, replaceChildren } from './dom.js';
import { attachAudio } from './audio.js';
import { clock, dateTime } from './format.js';
import { enumText, errorText, ta, tx } from './i18n.js';
import { notifyText } from './notify.js';
import { ScorecardForm } from './scorecard.js';
import { TranscriptView } from './transcript.js';

const REVIEWERS = ['qa', 'supervisor'];

export function mount(main, { user }) {
  const page = new Review(main, REVIEWERS.includes(user.role));
  page.loadQueue();
  return () => page.stop();
}

function agentName(item) {
  return item.agent_name || `#${item.agent_id}`;
}

class Review {
  constructor(main, mayReview) {
    this.audio = h('audio', { controls: true, preload: 'metadata', attrs: { 'aria-label': 'qa.audio' } });
    this.transcript = new TranscriptView(this.audio);
    this.scorecard = new ScorecardForm(this.audio, (id) => this.reviewed(id));
    this.list = h('ul', { class: 'sample-list' });
    this.more = h('button', { type: 'button', hidden: true, t: 'qa.more', onclick: () => this.loadQueue(this.after) });
    this.title = h('h2', { id: 'player-title', t: 'qa.player' });
    this.facts = h('p', { class: 'muted', t: 'qa.pick_first' });
    this.noTranscript = h('p', { class: 'muted', hidden: true, t: 'qa.no_transcript' });
    this.release = () => {};
    main.append(h('section', { class: 'page qa', 'aria-labelledby': 'qa-title' },
      h('div', { class: 'page-head' }, h('h1', { id: 'qa-title', t: 'qa.title' })),
      h('div', { class: 'qa-grid' },
        h('section', { class: 'card', 'aria-labelledby': 'queue-title' },
          h('h2', { id: 'queue-title', t: 'qa.queue' }), this.list, this.more),
        h('section', { class: 'card player', 'aria-labelledby': 'player-title' },
          this.title, this.facts, this.audio, this.transcript.timeline, this.transcript.flagList,
          h('div', { class: 'legend', 'aria-hidden': 'true' },
            h('span', { class: 'agent', t: 'speaker.agent' }), h('span', { class: 'debtor', t: 'speaker.debtor' })),
          this.noTranscript, this.transcript.box),
        h('section', { class: 'card scorecard', 'aria-labelledby': 'scorecard-title' },
          h('h2', { id: 'scorecard-title', t: 'qa.scorecard' }),
          mayReview ? this.scorecard.box : h('p', { class: 'muted', t: 'qa.may_not_review' })))));
  }

  async loadQueue(after) {
    try {
      const page = await api(`/qa/queue?limit=50${after ? `&after=${after}` : ''}`);
      if (!after) replaceChildren(this.list);
      this.list.append(...page.items.map((item) => this.sampleButton(item)));
      if (!this.list.children.length) this.list.append(h('li', { class: 'empty', t: 'qa.queue_empty' }));
      this.after = page.next_after;
      this.more.hidden = !page.next_after;
    } catch (error) {
      notifyText(errorText(error));
    }
  }

  sampleButton(item) {
    const button = h('button', { type: 'button', dataset: { recordingId: item.recording_id },
      onclick: () => this.open(item, button) },
    h('span', {}, `#${item.recording_id} · ${agentName(item)} · `,
      enumText(h('span'), 'reason', item.reason)),
    item.flags ? h('span', { class: 'flags', t: ['qa.flag_count', { n: item.flags }] }) : null);
    ta(button, 'aria-label', 'qa.sample_label', {
      id: item.recording_id, agent: agentName(item), reason: { t: `reason.${item.reason}` }, flags: item.flags,
    });
    return h('li', {}, button);
  }

  async open(item, button) {
    for (const other of this.list.querySelectorAll('button[aria-current]')) other.removeAttribute('aria-current');
    button.setAttribute('aria-current', 'true');
    this.release();
    this.transcript.clear();
    try {
      const [recording, transcript] = await Promise.all([
        api(`/recordings/${item.recording_id}`),
        api(`/recordings/${item.recording_id}/transcript`).catch((error) => {
          if (error.status === 404) return null;
          throw error;
        }),
      ]);
      tx(this.title, 'qa.recording', { id: recording.id, case: recording.case_id });
      tx(this.facts, 'qa.recording_facts', {
        started: dateTime(recording.started_at), duration: clock(recording.duration_ms / 1000),
        agent: agentName(item),
      });
      this.noTranscript.hidden = transcript !== null;
      if (transcript) this.transcript.show(transcript, recording.duration_ms / 1000);
      this.scorecard.show(recording);
      this.release = await attachAudio(this.audio, recording.audio_url);
    } catch (error) {
      notifyText(errorText(error));
    }
  }

  reviewed(recordingId) {
    const button = this.list.querySelector(`button[data-recording-id="${recordingId}"]`);
    if (button) button.closest('li').remove();
  }

  stop() {
    this.audio.pause();
    this.transcript.stop();
    this.release();
  }
}
