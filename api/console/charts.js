// Charts as SVG built element by element (no library, no innerHTML, no inline style:
// colours come from console.css by class). Each chart is a <figure> with its caption,
// a legend, the drawing (role="img", named) and its numbers in a table under a
// <details>, the text alternative for screen readers and for copying.

import { h } from './dom.js';
import { ta, tx } from './i18n.js';

const NS = 'http://www.w3.org/2000/svg';
const WIDTH = 600;
const LABEL_EVERY = 8; // at most this many time labels under a line chart

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) el.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined) el.append(child);
  }
  return el;
}

function text(x, y, value, cls, anchor = 'start') {
  return svg('text', { x, y, class: cls, 'text-anchor': anchor }, String(value));
}

function legend(series) {
  return h('ul', { class: 'chart-legend' }, series.map((s) => h('li', { dataset: { series: s.cls } },
    h('span', { class: `swatch ${s.cls}`, 'aria-hidden': 'true' }), ' ', h('span', { t: s.name }))));
}

// The table under the chart: one row per label, one column per series.
function dataTable(rowHeadKey, labels, series, format) {
  const head = h('tr', {}, h('th', { scope: 'col', t: rowHeadKey }),
    series.map((s) => h('th', { scope: 'col', class: 'num', t: s.name })));
  const rows = labels.map((label, n) => h('tr', {}, h('th', { scope: 'row' }, label),
    series.map((s) => h('td', { class: 'num', dataset: { series: s.cls } }, format(s.values[n])))));
  return h('details', { class: 'chart-table' }, h('summary', { t: 'chart.as_table' }),
    h('table', {}, h('thead', {}, head), h('tbody', {}, rows)));
}

function figure(cls, captionKey, captionArgs, series, drawing, table) {
  const caption = h('figcaption', {});
  tx(caption, captionKey, captionArgs);
  ta(drawing, 'aria-label', captionKey, captionArgs);
  return h('figure', { class: `chart ${cls}` }, caption, legend(series), drawing, table);
}

// Rates (0..1) over the intervals of a day.
// { captionKey, captionArgs, labels: ['09:00', ...], series: [{name, cls, values}],
//   max, cap: {value, labelKey} | null, format: (value) => text, rowHeadKey }
export function lineChart(spec) {
  const height = 120;
  const pad = { left: 44, right: 10, top: 10, bottom: 22 };
  const plotW = WIDTH - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const count = spec.labels.length;
  const x = (n) => pad.left + (count <= 1 ? plotW / 2 : (plotW * n) / (count - 1));
  const y = (v) => pad.top + plotH - (plotH * Math.min(v, spec.max)) / spec.max;
  const drawing = svg('svg', { viewBox: `0 0 ${WIDTH} ${height}`, role: 'img', class: 'plot' });
  for (const tick of [0, spec.max / 2, spec.max]) {
    drawing.append(svg('line', { x1: pad.left, x2: WIDTH - pad.right, y1: y(tick), y2: y(tick), class: 'grid' }),
      text(pad.left - 4, y(tick) + 4, spec.format(tick), 'axis', 'end'));
  }
  const every = Math.max(1, Math.ceil(count / LABEL_EVERY));
  spec.labels.forEach((label, n) => {
    const anchor = count > 1 && n === count - 1 ? 'end' : (count > 1 && n === 0 ? 'start' : 'middle');
    const room = n === count - 1 || (n % every === 0 && count - 1 - n >= every);
    if (room) drawing.append(text(x(n), height - 6, label, 'axis', anchor));
  });
  if (spec.cap) {
    const line = svg('line', { x1: pad.left, x2: WIDTH - pad.right, y1: y(spec.cap.value), y2: y(spec.cap.value), class: 'cap' });
    const label = text(WIDTH - pad.right, y(spec.cap.value) - 4, '', 'axis cap-label', 'end');
    tx(label, spec.cap.labelKey, { value: spec.format(spec.cap.value) });
    drawing.append(line, label);
  }
  for (const s of [...spec.series].reverse()) drawing.append(linePath(s, x, y, spec)); // the first on top
  return figure('line-chart', spec.captionKey, spec.captionArgs, spec.series, drawing,
    dataTable(spec.rowHeadKey, spec.labels, spec.series, spec.format));
}

// A series as polylines through its known points (a null breaks the line) and a dot
// at each, carrying its value.
function linePath(s, x, y, spec) {
  const group = svg('g', { class: `series ${s.cls}`, 'data-series': s.cls });
  let run = [];
  const flush = () => {
    if (run.length > 1) group.append(svg('polyline', { points: run.join(' '), class: 'line' }));
    run = [];
  };
  s.values.forEach((value, n) => {
    if (value === null || value === undefined) {
      flush();
      return;
    }
    run.push(`${x(n).toFixed(1)},${y(value).toFixed(1)}`);
    group.append(svg('circle', { cx: x(n).toFixed(1), cy: y(value).toFixed(1), r: 3, class: 'dot', 'data-value': value },
      svg('title', {}, `${spec.labels[n]} · ${spec.format(value)}`)));
  });
  flush();
  return group;
}

// Horizontal bars, one group of bars per row (a client, an agent, a tier).
// { captionKey, captionArgs, groups: ['name', ...], series: [{name, cls, values}], max,
//   format, rowHeadKey }
export function barChart(spec) {
  const bar = 12;
  const gap = 10;
  const pad = { left: 160, right: 70, top: 6 };
  const rowH = spec.series.length * bar + gap;
  const height = pad.top + spec.groups.length * rowH;
  const plotW = WIDTH - pad.left - pad.right;
  const drawing = svg('svg', { viewBox: `0 0 ${WIDTH} ${Math.max(height, 20)}`, role: 'img', class: 'plot bars' });
  spec.groups.forEach((group, g) => {
    const top = pad.top + g * rowH;
    const name = group.length > 24 ? `${group.slice(0, 23)}…` : group;
    drawing.append(text(pad.left - 6, top + (spec.series.length * bar) / 2 + 4, name, 'axis', 'end'));
    spec.series.forEach((s, n) => {
      const value = s.values[g];
      const known = value !== null && value !== undefined;
      const w = known && spec.max > 0 ? (plotW * Math.min(value, spec.max)) / spec.max : 0;
      drawing.append(svg('rect', { x: pad.left, y: top + n * bar, width: w.toFixed(1), height: bar - 2,
        class: `bar ${s.cls}`, 'data-series': s.cls, 'data-value': known ? value : '' }),
      text(pad.left + w + 4, top + n * bar + bar - 3, spec.format(value), 'axis value'));
    });
  });
  return figure('bar-chart', spec.captionKey, spec.captionArgs, spec.series, drawing,
    dataTable(spec.rowHeadKey, spec.groups, spec.series, spec.format));
}
