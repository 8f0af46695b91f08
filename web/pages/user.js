// One user's (or, in solo mode, one address's) page: figures, chart, workers (paged),
// and the chart of one worker when the route names it (#/user/<user>/<worker>).
import { h, userHref } from '../lib/dom.js';
import { getJson, seg } from '../lib/api.js';
import { statCards } from '../lib/cards.js';
import { hashrateChart } from '../lib/chart.js';
import { pagedTable } from '../lib/table.js';
import { formatAgo, formatCount, formatDifficulty, formatHashrate } from '../lib/format.js';
import { errorBox } from './common.js';

const PAGE = 50;           // the event stream's user event carries the first 50 workers
const STREAM_SORT = 'hashrate';

export const title = 'User';

export function mount(root, { events, params }) {
  const user = params.user;
  const selected = params.worker; // full worker name or null
  events.setUser(user);
  document.title = `${user} · ckpool-ts`;
  const cards = statCards([
    { key: 'hashrate', label: 'Hashrate' },
    { key: 'workers', label: 'Workers' },
    { key: 'best', label: 'Best share' },
    { key: 'last', label: 'Last share' },
    { key: 'shares', label: 'Shares' },
  ]);
  const chart = hashrateChart({ historyPath: `history/users/${seg(user)}`, title: 'Hashrate' });
  // the part after "user." (or "user_"): the user is already the page's title
  const short = (w) => (w.startsWith(user) && w.length > user.length && '._'.includes(w[user.length]) ? w.slice(user.length + 1) : w);
  const workerChart = selected == null ? null
    : hashrateChart({ historyPath: `history/workers/${seg(selected)}`, title: `Worker ${short(selected)}` });
  const workerLink = (w) => h('a', {
    href: `${userHref(user)}/${encodeURIComponent(w.worker)}`,
    'aria-current': w.worker === selected ? 'true' : null,
  }, short(w.worker));
  const workers = pagedTable({
    label: 'workers',
    limit: PAGE,
    sort: STREAM_SORT,
    empty: 'No workers.',
    columns: [
      { title: 'Worker', sort: 'name', sortDir: 'ascending', className: 'wrap', cell: (w) => h('span', { class: w.online ? 'on' : 'off', title: w.online ? 'online' : 'offline' }, workerLink(w)) },
      { title: 'Hashrate', sort: 'hashrate', className: 'num', cell: (w) => formatHashrate(w.hashrate['5m']) },
      { title: '1h', className: 'num opt', cell: (w) => formatHashrate(w.hashrate['1h']) },
      { title: 'Best share', className: 'num', cell: (w) => formatDifficulty(w.bestShare) },
      { title: 'Last share', sort: 'lastShare', className: 'num', cell: (w) => formatAgo(w.lastShare) },
      { title: 'Accepted', className: 'num opt', cell: (w) => formatCount(w.sharesAccepted) },
      { title: 'Rejected', className: 'num opt', cell: (w) => formatCount(w.sharesRejected) },
    ],
    load: (q) => getJson(`users/${seg(user)}/workers`, { offset: q.offset, limit: q.limit, sort: q.sort }, q.signal),
  });
  const error = errorBox();
  const workersCard = h('section', { class: 'card' }, h('h2', null, 'Workers'), workers.el);
  root.append(
    h('h1', { class: 'page-title' }, h('span', { class: 'muted' }, 'User '), user),
    error.el, cards.el, chart.el, workerChart?.el, workersCard);
  // an unknown user: only the message, until its first event (it connected) brings the rest
  const known = (yes) => {
    for (const el of [chart.el, workerChart?.el, workersCard, cards.el]) if (el) el.hidden = !yes;
  };

  function render(u) {
    error.clear();
    cards.set('hashrate', formatHashrate(u.hashrate['5m']), `1h ${formatHashrate(u.hashrate['1h'])} · 1d ${formatHashrate(u.hashrate['1d'])}`);
    cards.set('workers', formatCount(u.workers));
    cards.set('best', formatDifficulty(u.bestShare), `best ever ${formatDifficulty(u.bestEver)}`);
    cards.set('last', formatAgo(u.lastShare));
    const total = u.sharesAccepted + u.sharesRejected;
    cards.set('shares', formatCount(u.sharesAccepted),
      `${formatCount(u.sharesRejected)} rejected${total ? ` (${(100 * u.sharesRejected / total).toFixed(1)} %)` : ''}`);
  }

  const ctl = new AbortController();
  getJson(`users/${seg(user)}`, {}, ctl.signal).then(render, (err) => {
    if (err.name === 'AbortError') return;
    if (err.status === 404) known(false);
    error.show(err.status === 404 ? new Error(`No user “${user}” on this pool (yet): it has not connected or sent a share.`) : err);
  });
  workers.refresh();
  const off = events.on('user', (ev) => {
    if (ev.user?.user !== user) return; // an event of the stream before it switched to this user
    if (workersCard.hidden) { known(true); workers.refresh(); }
    render(ev.user);
    chart.tick(Date.now() / 1000, ev.user.hashrate['1m']);
    // the event carries the first 50 workers: a live point when the selected one is among them
    workerChart?.tick(Date.now() / 1000, ev.workers.find((w) => w.worker === selected)?.hashrate['1m']);
    const s = workers.state;
    if (s.offset === 0 && s.sort === STREAM_SORT && s.limit === PAGE && !s.loading) {
      workers.show({ total: ev.user.workers, offset: 0, limit: PAGE, items: ev.workers });
    } else {
      workers.refreshIfOlder(30_000);
    }
  });
  return () => { off(); ctl.abort(); chart.destroy(); workerChart?.destroy(); workers.destroy(); };
}
