// Building DOM without innerHTML: text always goes in as text.

import { ta, tx } from './i18n.js';

// h('button', {class: 'x', onclick: f, t: 'key'}, 'child', el)
// Props: class, text, t (an i18n key, or [key, args]), attrs (i18n attributes:
// {'aria-label': key}), dataset, on<event>, anything else as an attribute.
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') el.className = value;
    else if (name === 'text') el.textContent = String(value);
    else if (name === 't') (Array.isArray(value) ? tx(el, ...value) : tx(el, value));
    else if (name === 'attrs') Object.entries(value).forEach(([a, key]) => ta(el, a, key));
    else if (name === 'dataset') Object.assign(el.dataset, value);
    else if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

// Replace the children of `el`, keeping focus on an element that stays.
export function replaceChildren(el, ...children) {
  clear(el);
  return append(el, children);
}

// A labelled form field: <div class="field"><label for=id>..</label>control</div>
export function field(id, labelKey, control, hintKey) {
  control.id = id;
  const parts = [h('label', { for: id, t: labelKey }), control];
  if (hintKey) {
    const hint = h('small', { id: `${id}-hint`, class: 'hint', t: hintKey });
    control.setAttribute('aria-describedby', hint.id);
    parts.push(hint);
  }
  return h('div', { class: 'field' }, parts);
}
