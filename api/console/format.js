// Numbers, money, times and durations for display, in the UI language.

import { locale } from './i18n.js';

export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.floor(seconds));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return hh ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
}

export function clock(seconds) {
  return Number.isFinite(seconds) ? duration(seconds) : '—';
}

export function money(amount, currency) {
  const value = Number(amount);
  if (!Number.isFinite(value)) return amount ?? '—';
  try {
    return new Intl.NumberFormat(locale(), { style: 'currency', currency: currency || 'CNY' })
      .format(value);
  } catch {
    return `${value.toFixed(2)} ${currency || ''}`.trim();
  }
}

// An amount of money without its currency (a report's sums), to the cent.
export function amount(value) {
  const number = Number(value);
  if (value === null || value === undefined || !Number.isFinite(number)) return '—';
  return new Intl.NumberFormat(locale(), { minimumFractionDigits: 2, maximumFractionDigits: 2 })
    .format(number);
}

export function percent(share, digits = 1) {
  if (share === null || share === undefined || !Number.isFinite(share)) return '—';
  return new Intl.NumberFormat(locale(), {
    style: 'percent', minimumFractionDigits: digits, maximumFractionDigits: digits,
  }).format(share);
}

export function dateTime(iso) {
  if (!iso) return '—';
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  return new Intl.DateTimeFormat(locale(), { dateStyle: 'medium', timeStyle: 'short' })
    .format(at);
}

// A time as it reads in `zone` (an IANA name), e.g. the debtor's local time.
export function dateTimeIn(iso, zone) {
  if (!iso) return '—';
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  try {
    return new Intl.DateTimeFormat(locale(), { dateStyle: 'medium', timeStyle: 'short', timeZone: zone })
      .format(at);
  } catch {
    return dateTime(iso);
  }
}

export function date(iso) {
  if (!iso) return '—';
  const at = new Date(`${iso}T00:00:00`);
  if (Number.isNaN(at.getTime())) return iso;
  return new Intl.DateTimeFormat(locale(), { dateStyle: 'medium' }).format(at);
}
