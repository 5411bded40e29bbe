// A call's transcript beside its audio: turns coloured by speaker, every word timed,
// the word being heard highlighted as the audio plays or seeks, QA flags as marks
// on a timeline that seek to their time.

import { h, replaceChildren } from './dom.js';
import { clock } from './format.js';
import { enumText, ta, tx } from './i18n.js';

const TURN_GAP_S = 1.5; // as transcription.dialogue.merge groups words into turns
const EPSILON_S = 0.005;

// Words (sorted by start) grouped into turns of one speaker.
export function turnsOf(words) {
  const turns = [];
  words.forEach((word, index) => {
    const last = turns[turns.length - 1];
    if (last && last.speaker === word.speaker && word.start - last.end < TURN_GAP_S) {
      last.words.push(index);
      last.end = Math.max(last.end, word.end);
    } else {
      turns.push({ speaker: word.speaker, start: word.start, end: word.end, words: [index] });
    }
  });
  return turns;
}

// The index of the last word that started at or before `time`, or -1.
export function wordAt(words, time) {
  let low = 0;
  let high = words.length - 1;
  let found = -1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (words[middle].start <= time + EPSILON_S) {
      found = middle;
      low = middle + 1;
    } else {
      high = middle - 1;
    }
  }
  return found;
}

function flagged(word, flags) {
  return flags.some((f) => f.speaker === word.speaker && word.start < f.end + EPSILON_S
    && word.end > f.start - EPSILON_S);
}

export class TranscriptView {
  constructor(audio) {
    this.audio = audio;
    this.words = [];
    this.spans = [];
    this.current = -1;
    this.frame = null;
    this.box = h('div', { class: 'transcript', tabindex: '0', attrs: { 'aria-label': 'qa.transcript' } });
    this.timeline = h('div', { class: 'timeline' });
    this.playhead = h('div', { class: 'playhead' });
    this.flagList = h('ul', { class: 'flag-list' });
    const follow = () => this.follow();
    for (const name of ['timeupdate', 'seeked', 'seeking', 'loadedmetadata']) audio.addEventListener(name, follow);
    audio.addEventListener('play', () => this.animate());
  }

  show(transcript, duration) {
    this.words = [...transcript.words].sort((a, b) => a.start - b.start);
    this.duration = duration || transcript.duration || 1;
    this.current = -1;
    const flags = transcript.flags || [];
    this.spans = this.words.map((word) => h('span', {
      class: flagged(word, flags) ? 'word flagged' : 'word',
      dataset: { start: word.start, end: word.end },
    }, word.text));
    replaceChildren(this.box, turnsOf(this.words).map((turn) => this.turn(turn)));
    replaceChildren(this.timeline, this.playhead, flags.map((flag) => this.mark(flag)));
    replaceChildren(this.flagList, flags.map((flag) => h('li', {},
      enumText(h('strong'), 'flag', flag.kind), ` ${clock(flag.start)} · `,
      enumText(h('span'), 'speaker', flag.speaker), ` · “${flag.text}”`)));
    this.follow();
  }

  clear() {
    this.words = [];
    this.spans = [];
    replaceChildren(this.box);
    replaceChildren(this.timeline, this.playhead);
    replaceChildren(this.flagList);
  }

  turn(turn) {
    const seek = h('button', { type: 'button', class: 'at', onclick: () => this.seek(turn.start) },
      clock(turn.start));
    ta(seek, 'aria-label', 'qa.play_from', { time: clock(turn.start) });
    const words = turn.words.flatMap((i, n) => (n ? [' ', this.spans[i]] : [this.spans[i]]));
    return h('p', { class: 'turn', dataset: { speaker: turn.speaker } },
      seek, enumText(h('span', { class: 'who' }), 'speaker', turn.speaker), ...words);
  }

  mark(flag) {
    const button = h('button', { type: 'button', class: 'flag', dataset: { kind: flag.kind },
      onclick: () => this.seek(flag.start) });
    tx(button, `flagmark.${flag.kind}`);
    ta(button, 'aria-label', 'qa.flag_at', { kind: { t: `flag.${flag.kind}` }, time: clock(flag.start) });
    button.style.left = `${Math.min(100, (100 * flag.start) / this.duration)}%`;
    return button;
  }

  seek(time) {
    this.audio.currentTime = time;
  }

  animate() {
    cancelAnimationFrame(this.frame);
    const step = () => {
      this.follow();
      if (!this.audio.paused && !this.audio.ended) this.frame = requestAnimationFrame(step);
    };
    this.frame = requestAnimationFrame(step);
  }

  follow() {
    const time = this.audio.currentTime;
    this.playhead.style.left = `${Math.min(100, (100 * time) / (this.duration || 1))}%`;
    const index = wordAt(this.words, time);
    if (index === this.current) return;
    const before = this.spans[this.current];
    if (before) {
      before.classList.remove('current');
      before.removeAttribute('aria-current');
    }
    this.current = index;
    const now = this.spans[index];
    if (now) {
      now.classList.add('current');
      now.setAttribute('aria-current', 'true');
      now.scrollIntoView({ block: 'nearest' });
    }
  }

  stop() {
    cancelAnimationFrame(this.frame);
  }
}
