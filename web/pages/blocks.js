// Blocks found by the pool, newest first, with the node's verdict.
import { h, userHref } from '../lib/dom.js';
import { getJson } from '../lib/api.js';
import { pagedTable } from '../lib/table.js';
import { formatAgo, formatBtc, formatCount, formatDifficulty, formatTime, shortHash } from '../lib/format.js';

export const title = 'Blocks';

export function mount(root, { events }) {
  events.setUser(null);
  const blocks = pagedTable({
    label: 'found blocks',
    empty: 'No blocks found yet.',
    columns: [
      { title: 'Height', className: 'num', cell: (b) => formatCount(b.height) },
      { title: 'Hash', className: 'hash opt', cell: (b) => h('code', { title: b.hash }, shortHash(b.hash)) },
      { title: 'Finder', className: 'wrap', cell: (b) => h('a', { href: userHref(b.finder) }, b.finder) },
      { title: 'Worker', className: 'wrap opt', cell: (b) => b.worker },
      { title: 'Reward', className: 'num opt', cell: (b) => formatBtc(b.reward) },
      { title: 'Diff', className: 'num opt', cell: (b) => formatDifficulty(b.diff) },
      { title: 'Found', className: 'num', cell: (b) => h('span', { title: formatTime(b.time) }, formatAgo(b.time)) },
      { title: 'Verdict', cell: (b) => h('span', { class: `verdict ${b.verdict}`, title: b.reason ?? '' }, b.verdict) },
    ],
    load: (q) => getJson('blocks', { offset: q.offset, limit: q.limit }, q.signal),
  });
  root.append(h('section', { class: 'card' }, h('h2', null, 'Found blocks'), blocks.el));
  blocks.refresh();
  // a new block or a changed verdict: redraw the current page, once for a burst of events
  // (a regtest demo finds a block every few seconds, each with two or three events)
  let pending = null;
  const off = events.on('block', () => { pending ??= setTimeout(() => { pending = null; blocks.refresh(); }, 2000); });
  return () => { off(); clearTimeout(pending); blocks.destroy(); };
}
