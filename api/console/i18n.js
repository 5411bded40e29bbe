// UI text in English and Chinese. Elements made with tx()/ta() remember their key,
// so switching the language relabels the page in place (no re-render, no lost
// focus or audio position).

import en from './i18n/en.js';
import zh from './i18n/zh.js';

const TABLES = { en, zh };
const KEY = 'callcase.lang';
const listeners = new Set();
let current = pickLanguage();

function pickLanguage() {
  const saved = localStorage.getItem(KEY);
  if (saved && TABLES[saved]) return saved;
  return (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

export function lang() {
  return current;
}

export function locale() {
  return current === 'zh' ? 'zh-CN' : 'en-GB';
}

// t('queue.waiting', {n: 3}): the text of `key`, {name} placeholders filled in;
// an argument {t: 'status.available'} is itself translated (and relabelled).
export function t(key, args) {
  const text = TABLES[current][key] ?? TABLES.en[key] ?? key;
  if (!args) return text;
  return text.replace(/\{(\w+)\}/g, (all, name) => (name in args ? arg(args[name]) : all));
}

function arg(value) {
  if (value && typeof value === 'object' && 't' in value) return t(value.t);
  return String(value);
}

// Does a translation exist (used for error ids and enum values)?
export function has(key) {
  return key in TABLES.en;
}

export function tx(el, key, args) {
  el.dataset.i18n = key;
  if (args) el.dataset.i18nArgs = JSON.stringify(args);
  else delete el.dataset.i18nArgs;
  el.textContent = t(key, args);
  return el;
}

export function ta(el, attribute, key, args) {
  const attrs = JSON.parse(el.dataset.i18nAttrs || '{}');
  attrs[attribute] = args ? [key, args] : key;
  el.dataset.i18nAttrs = JSON.stringify(attrs);
  el.setAttribute(attribute, t(key, args));
  return el;
}

export function relabel(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) {
    const args = el.dataset.i18nArgs ? JSON.parse(el.dataset.i18nArgs) : undefined;
    el.textContent = t(el.dataset.i18n, args);
  }
  for (const el of root.querySelectorAll('[data-i18n-attrs]')) {
    for (const [attribute, spec] of Object.entries(JSON.parse(el.dataset.i18nAttrs))) {
      const [key, args] = Array.isArray(spec) ? spec : [spec, undefined];
      el.setAttribute(attribute, t(key, args));
    }
  }
}

export function setLang(name) {
  if (!TABLES[name]) return;
  current = name;
  localStorage.setItem(KEY, name);
  document.documentElement.lang = locale();
  relabel();
  listeners.forEach((listener) => listener(name));
}

export function onLangChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

// Enum values from the API, e.g. state: talking -> t('state.talking').
export function tEnum(group, value) {
  return has(`${group}.${value}`) ? `${group}.${value}` : null;
}

// An element showing an enum value, translated when the table knows it.
export function enumText(el, group, value) {
  const key = value === null || value === undefined ? null : tEnum(group, value);
  if (key) return tx(el, key);
  delete el.dataset.i18n;
  el.textContent = value ?? '—';
  return el;
}

// An API error for people: the translated error id, else the server's message.
export function errorText(error) {
  const id = error && error.errorId;
  if (id && has(`error.${id}`)) return t(`error.${id}`);
  return (error && error.message) || t('error.unknown');
}
