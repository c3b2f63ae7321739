// Steward console: small charts drawn as SVG through DOM APIs (classes and SVG attributes
// only, no inline styles, no library). Each chart carries a <title> and an aria-label.

import { s, h, text } from './dom.js';

const fmt = (v) => {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  if (typeof v !== 'number') return text(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (a >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  if (a >= 10) return v.toFixed(1);
  return String(Number(v.toPrecision(3)));
};
const short = (label, n = 28) => (String(label).length > n ? `…${String(label).slice(-(n - 1))}` : String(label));

function frame(width, height, label) {
  return s('svg', {
    viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': label,
    preserveAspectRatio: 'xMinYMin meet',
  }, s('title', {}, label));
}

/**
 * Horizontal bars, one per item {label, value, low?, high?, cls?}, with the interval drawn as
 * a whisker when given. opts: {title, max?, legend?}.
 */
export function bars(items, opts = {}) {
  const rowH = 26;
  const left = 190;
  const width = 600;
  const plotW = width - left - 70;
  const height = items.length * rowH + 30;
  const finite = items.flatMap((i) => [i.value, i.high]).filter((v) => Number.isFinite(v));
  const max = opts.max ?? Math.max(1e-9, ...finite);
  const x = (v) => left + (Math.max(0, Math.min(v, max)) / max) * plotW;
  const svg = frame(width, height, opts.title || 'bar chart');
  items.forEach((item, i) => {
    const y = 10 + i * rowH;
    svg.append(s('text', { x: left - 8, y: y + 15, class: 'label', 'text-anchor': 'end' }, s('title', {}, item.label), short(item.label)));
    if (Number.isFinite(item.value)) {
      svg.append(s('rect', {
        x: left, y: y + 3, width: Math.max(1, x(item.value) - left), height: rowH - 10,
        class: `bar ${item.cls || ''}`,
      }, s('title', {}, `${item.label}: ${fmt(item.value)}`)));
    }
    if (Number.isFinite(item.low) && Number.isFinite(item.high)) {
      const cy = y + rowH / 2 - 1;
      svg.append(
        s('line', { x1: x(item.low), x2: x(item.high), y1: cy, y2: cy, class: 'whisker' }),
        s('line', { x1: x(item.low), x2: x(item.low), y1: cy - 6, y2: cy + 6, class: 'whisker' }),
        s('line', { x1: x(item.high), x2: x(item.high), y1: cy - 6, y2: cy + 6, class: 'whisker' }),
      );
    }
    svg.append(s('text', { x: left + plotW + 6, y: y + 15, class: 'value' }, fmt(item.value)));
  });
  svg.append(s('line', { x1: left, x2: left, y1: 5, y2: height - 18, class: 'axis' }));
  return figure(svg, opts.title, opts.legend);
}

/**
 * Grouped vertical bars: groups [{label, values: {series: number}}], series [name] (the
 * second series drawn as the baseline).
 */
export function grouped(groups, series, opts = {}) {
  const width = 560;
  const height = 220;
  const bottom = 30;
  const top = 10;
  const left = 40;
  const plotH = height - top - bottom;
  const max = opts.max ?? Math.max(1e-9, ...groups.flatMap((g) => series.map((n) => g.values[n]).filter(Number.isFinite)));
  const gw = (width - left - 10) / Math.max(1, groups.length);
  const bw = Math.min(28, (gw - 12) / series.length);
  const svg = frame(width, height, opts.title || 'grouped bar chart');
  for (const tick of [0, 0.5, 1]) {
    const y = top + plotH - tick * plotH;
    svg.append(
      s('line', { x1: left, x2: width - 10, y1: y, y2: y, class: 'grid' }),
      s('text', { x: left - 4, y: y + 4, class: 'tick', 'text-anchor': 'end' }, fmt(tick * max)),
    );
  }
  groups.forEach((g, gi) => {
    const x0 = left + gi * gw + (gw - bw * series.length) / 2;
    series.forEach((name, si) => {
      const v = g.values[name];
      if (!Number.isFinite(v)) return;
      const bh = (Math.max(0, v) / max) * plotH;
      svg.append(s('rect', {
        x: x0 + si * bw, y: top + plotH - bh, width: bw - 2, height: Math.max(0.5, bh),
        class: `bar series-${si}`,
      }, s('title', {}, `${g.label} ${name}: ${fmt(v)}`)));
    });
    svg.append(s('text', { x: left + gi * gw + gw / 2, y: height - 10, class: 'label', 'text-anchor': 'middle' }, g.label));
  });
  return figure(svg, opts.title, series);
}

/** Lines over time: series [{name, points: [[t_ms, value]]}]. */
export function lines(series, opts = {}) {
  const width = 560;
  const height = 160;
  const left = 50;
  const top = 10;
  const bottom = 20;
  const plotW = width - left - 10;
  const plotH = height - top - bottom;
  const all = series.flatMap((se) => se.points);
  const svg = frame(width, height, opts.title || 'line chart');
  if (all.length === 0) {
    svg.append(s('text', { x: width / 2, y: height / 2, class: 'label', 'text-anchor': 'middle' }, 'no samples yet'));
    return figure(svg, opts.title);
  }
  const t0 = Math.min(...all.map((p) => p[0]));
  const t1 = Math.max(t0 + 1, ...all.map((p) => p[0]));
  const vmax = Math.max(1, ...all.map((p) => p[1]).filter(Number.isFinite));
  const x = (t) => left + ((t - t0) / (t1 - t0)) * plotW;
  const y = (v) => top + plotH - (Math.max(0, v) / vmax) * plotH;
  svg.append(
    s('line', { x1: left, x2: left + plotW, y1: top + plotH, y2: top + plotH, class: 'axis' }),
    s('text', { x: left - 4, y: top + 8, class: 'tick', 'text-anchor': 'end' }, fmt(vmax)),
    s('text', { x: left - 4, y: top + plotH, class: 'tick', 'text-anchor': 'end' }, '0'),
  );
  series.forEach((se, i) => {
    if (se.points.length === 0) return;
    const d = se.points.map((p, j) => `${j ? 'L' : 'M'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ');
    svg.append(s('path', { d, class: `line series-${i % 6}` }, s('title', {}, se.name)));
    const last = se.points[se.points.length - 1];
    svg.append(s('circle', { cx: x(last[0]), cy: y(last[1]), r: 2.5, class: `dot series-${i % 6}` }));
  });
  return figure(svg, opts.title, series.map((se) => se.name));
}

/**
 * A left-to-right graph of columns of nodes: columns [[{id, label, cls}]], edges [[from, to]].
 */
export function graph(columns, edges, opts = {}) {
  const colW = 220;
  const nodeH = 30;
  const gap = 14;
  const width = Math.max(300, columns.length * colW);
  const rows = Math.max(1, ...columns.map((c) => c.length));
  const height = rows * (nodeH + gap) + 20;
  const pos = new Map();
  const svg = frame(width, height, opts.title || 'graph');
  columns.forEach((col, ci) => {
    col.forEach((node, ri) => pos.set(node.id, { x: 10 + ci * colW, y: 10 + ri * (nodeH + gap) }));
  });
  for (const [from, to] of edges) {
    const a = pos.get(from);
    const b = pos.get(to);
    if (!a || !b) continue;
    const x1 = a.x + colW - 40;
    const y1 = a.y + nodeH / 2;
    const x2 = b.x;
    const y2 = b.y + nodeH / 2;
    svg.append(s('path', { d: `M${x1},${y1} C${x1 + 30},${y1} ${x2 - 30},${y2} ${x2},${y2}`, class: 'edge' }));
  }
  columns.forEach((col) => col.forEach((node) => {
    const p = pos.get(node.id);
    svg.append(s('g', { class: `node ${node.cls || ''}` },
      s('rect', { x: p.x, y: p.y, width: colW - 40, height: nodeH, rx: 5 }),
      s('text', { x: p.x + 8, y: p.y + 19, class: 'label' }, node.label)));
  }));
  return figure(svg, opts.title);
}

function figure(svg, title, legend) {
  return h('figure', { class: 'chart-figure' },
    svg,
    legend && legend.length > 1
      ? h('figcaption', {}, legend.map((name, i) => h('span', { class: `legend series-${i % 6}` }, name)))
      : (title ? h('figcaption', { class: 'sr' }, title) : null));
}
