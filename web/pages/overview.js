// Pool overview: figures, hashrate chart, connected miners (paged).
import { h, userHref } from '../lib/dom.js';
import { getJson } from '../lib/api.js';
import { statCards } from '../lib/cards.js';
import { hashrateChart } from '../lib/chart.js';
import { pagedTable } from '../lib/table.js';
import { formatAgo, formatCount, formatDifficulty, formatDuration, formatHashrate, formatTime } from '../lib/format.js';
import { errorBox, plural } from './common.js';

export const title = 'Pool';

export function mount(root, { events }) {
  events.setUser(null);
  const cards = statCards([
    { key: 'hashrate', label: 'Hashrate' },
    { key: 'miners', label: 'Miners' },
    { key: 'shares', label: 'Round shares' },
    { key: 'best', label: 'Best share' },
    { key: 'network', label: 'Network diff' },
    { key: 'block', label: 'Last block' },
    { key: 'uptime', label: 'Uptime' },
  ]);
  const chart = hashrateChart({ historyPath: 'history/pool', title: 'Pool hashrate' });
  const clients = pagedTable({
    label: 'connected miners',
    limit: 25,
    empty: 'No miners connected.',
    columns: [
      { title: 'User', className: 'wrap', cell: (c) => h('a', { href: userHref(c.user) }, c.user) },
      { title: 'Worker', className: 'wrap', cell: (c) => c.worker },
      { title: 'Diff', className: 'num', cell: (c) => formatDifficulty(c.diff) },
      { title: 'Last share', className: 'num', cell: (c) => formatAgo(c.lastShare) },
      { title: 'Connected', className: 'num opt', cell: (c) => formatAgo(c.connectedAt) },
      { title: 'Protocol', className: 'opt', cell: (c) => c.protocol },
    ],
    load: (q) => getJson('clients', { offset: q.offset, limit: q.limit }, q.signal),
  });
  const error = errorBox();
  root.append(error.el, cards.el, chart.el, h('section', { class: 'card' }, h('h2', null, 'Connected miners'), clients.el));

  function render(p) {
    error.clear();
    cards.set('hashrate', formatHashrate(p.hashrate['5m']), `1h ${formatHashrate(p.hashrate['1h'])} · 1d ${formatHashrate(p.hashrate['1d'])}`);
    cards.set('miners', formatCount(p.miners), `${plural(p.users, 'user')} · ${plural(p.workers, 'worker')}`);
    cards.set('shares', formatCount(p.sharesAccepted), rejectedText(p));
    cards.set('best', formatDifficulty(p.bestShare));
    cards.set('network', p.network ? formatDifficulty(p.network.difficulty) : '—', p.network ? `height ${formatCount(p.network.height)}` : 'no template yet');
    cards.set('block', p.lastBlock ? formatCount(p.lastBlock.height) : 'none yet',
      p.lastBlock ? `${formatAgo(p.lastBlock.time)} · ${p.lastBlock.verdict}` : `${formatCount(p.blocksFound)} found`);
    cards.set('uptime', formatDuration(p.uptimeSeconds), `since ${formatTime(p.startedAt)}`);
  }

  const ctl = new AbortController();
  getJson('pool', {}, ctl.signal).then(render, (err) => { if (err.name !== 'AbortError') error.show(err); });
  clients.refresh();
  const off = events.on('pool', (p) => {
    render(p);
    chart.tick(Date.now() / 1000, p.hashrate['1m']);
    clients.refreshIfOlder(30_000);
  });
  return () => { off(); ctl.abort(); chart.destroy(); clients.destroy(); };
}

/** the pool counts rejected shares by difficulty only (sharesRejected null): say it that way */
function rejectedText(p) {
  if (p.sharesRejected != null) {
    const total = p.sharesAccepted + p.sharesRejected;
    return `${formatCount(p.sharesRejected)} rejected${total ? ` (${(100 * p.sharesRejected / total).toFixed(1)} %)` : ''}`;
  }
  const diff = p.acceptedDiff + p.rejectedDiff;
  return p.rejectedDiff > 0 ? `${(100 * p.rejectedDiff / diff).toFixed(1)} % rejected (by diff)` : 'none rejected';
}
