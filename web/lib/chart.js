// Hashrate chart (uPlot, served locally at assets/uplot/) over api/v1/history/….
// History is fetched when shown, when the range changes and at most once a minute
// after that (tick()); between fetches the live rates from the event stream are drawn
// after the history's last point, so the line moves every few seconds without requests.
import { h, fill } from './dom.js';
import { getJson } from './api.js';
import { formatHashrate } from './format.js';

const RANGES = ['1h', '24h', '7d'];
const SPAN = { '1h': 3600, '24h': 86400, '7d': 7 * 86400 };
const REFETCH_MS = 60_000;
const MAX_LIVE = 720; // an hour of 5-second events

const cssVar = (name, fallback) =>
  getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;

/** historyPath: 'history/pool' | 'history/users/<enc user>' */
export function hashrateChart({ historyPath, title = 'Hashrate' }) {
  let range = '1h';
  let history = { t: [], hashrate: [] };
  let live = [];            // [{ t, hashrate }] from the event stream since the last history point
  let fetchedAt = 0;
  let historyError = null; // shown under the chart; live points are still drawn
  let loading = null;
  let plot = null;

  const buttons = RANGES.map((r) => h('button', {
    type: 'button', 'aria-pressed': String(r === range),
    on: { click: () => { if (r !== range) { range = r; buttons.forEach((b) => b.setAttribute('aria-pressed', String(b.textContent === r))); load(); } } },
  }, r));
  const plotEl = h('div', { class: 'plot' });
  const summary = h('p', { class: 'chart-summary' }, 'loading…');
  const el = h('section', { class: 'card chart', 'aria-label': `${title} chart` },
    h('div', { class: 'chart-head' }, h('h2', null, title), h('div', { class: 'ranges', role: 'group', 'aria-label': 'range' }, buttons)),
    plotEl, summary);

  const resize = new ResizeObserver(() => plot?.setSize(size()));
  resize.observe(plotEl);

  function size() {
    const width = Math.max(200, plotEl.clientWidth);
    return { width, height: width < 500 ? 180 : 260 };
  }

  /** history plus the live points newer than its last one */
  function data() {
    const t = history.t.slice();
    const y = history.hashrate.slice();
    const lastT = t.length ? t[t.length - 1] : -Infinity;
    for (const p of live) if (p.t > lastT) { t.push(p.t); y.push(p.hashrate); }
    return [t, y];
  }

  function draw() {
    const d = data();
    if (!window.uPlot) { fill(summary, 'chart unavailable: uPlot did not load'); return; }
    if (!plot) {
      const stroke = cssVar('--accent', '#f7931a');
      const grid = { stroke: cssVar('--grid', '#8883'), width: 1 };
      const axisText = cssVar('--muted', '#666');
      plot = new window.uPlot({
        ...size(),
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        scales: {
          // the whole chosen range, however few points there are yet
          x: { time: true, range: () => { const now = Date.now() / 1000; return [now - SPAN[range], now]; } },
          y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] },
        },
        axes: [
          { stroke: axisText, grid, ticks: grid },
          { stroke: axisText, grid, ticks: grid, size: 72, values: (u, splits) => splits.map(formatHashrate) },
        ],
        series: [{}, { label: 'hashrate', stroke, width: 2, fill: `${stroke}22`, points: { show: (u, si, i0, i1) => i1 - i0 < 40, size: 5 }, value: (u, v) => formatHashrate(v) }],
      }, d, plotEl);
    } else {
      plot.setData(d);
    }
    const ys = d[1].filter((v) => v != null);
    const now = ys.length ? ys[ys.length - 1] : null;
    const peak = ys.length ? Math.max(...ys) : null;
    const text = ys.length === 0 ? `no data for the last ${range} yet`
      : `now ${formatHashrate(now)} · peak ${formatHashrate(peak)} (last ${range}, ${ys.length} points)`;
    fill(summary, historyError ? `${text} · history unavailable: ${historyError}` : text);
  }

  async function load() {
    loading?.abort();
    const ctl = new AbortController();
    loading = ctl;
    fetchedAt = Date.now();
    try {
      const r = await getJson(historyPath, { range }, ctl.signal);
      if (ctl.signal.aborted) return;
      history = { t: r.t, hashrate: r.hashrate };
      historyError = null;
      const lastT = r.t.length ? r.t[r.t.length - 1] : -Infinity;
      live = live.filter((p) => p.t > lastT);
      draw();
    } catch (err) {
      if (err.name === 'AbortError') return;
      historyError = err.message;
      draw();
    } finally {
      if (loading === ctl) loading = null;
    }
  }

  load();
  return {
    el,
    /** a live rate (H/s) at unix time t; refetches the history if the last fetch is a minute old */
    tick(t, hashrate) {
      if (Number.isFinite(hashrate)) {
        live.push({ t, hashrate });
        if (live.length > MAX_LIVE) live.shift();
        draw();
      }
      if (!loading && Date.now() - fetchedAt >= REFETCH_MS) load();
    },
    destroy() { loading?.abort(); resize.disconnect(); plot?.destroy(); },
  };
}
