// A table paged by the server (offset/limit): only one page of rows is ever in the
// DOM, so a user with 10,000 workers costs the browser 50 rows.
import { h, fill } from './dom.js';
import { formatCount } from './format.js';

/**
 * columns: [{ title, cell: (row) => Node|string, sort?: string, sortDir?: 'ascending', className?: string }]
 *   sort: the API's sort key for this column (the server orders; descending unless sortDir says)
 *   className 'num' right-aligns; 'opt' columns are hidden on narrow screens.
 * load({ offset, limit, sort, signal }) → { total, offset, limit, items }
 */
export function pagedTable({ columns, load, limit = 50, sort = null, empty = 'Nothing yet.', label }) {
  const state = { offset: 0, limit, sort, total: 0, loading: null, loadedAt: 0 };
  const thead = h('thead', null, h('tr', null, columns.map((c) => {
    const th = h('th', { class: c.className, scope: 'col' });
    if (c.sort) {
      const btn = h('button', { type: 'button', class: 'sort', on: { click: () => { state.sort = c.sort; state.offset = 0; refresh(); } } }, c.title);
      th.append(btn);
    } else {
      th.textContent = c.title;
    }
    return th;
  })));
  const tbody = h('tbody');
  const info = h('span', { class: 'pager-info' });
  const btn = (text, aria, fn) => h('button', { type: 'button', 'aria-label': aria, on: { click: fn } }, text);
  const first = btn('«', 'first page', () => go(0));
  const prev = btn('‹', 'previous page', () => go(state.offset - state.limit));
  const next = btn('›', 'next page', () => go(state.offset + state.limit));
  const last = btn('»', 'last page', () => go(Math.floor(Math.max(0, state.total - 1) / state.limit) * state.limit));
  const error = h('p', { class: 'error', hidden: true });
  const el = h('div', { class: 'paged' },
    h('div', { class: 'table-wrap' }, h('table', { 'aria-label': label }, thead, tbody)),
    error,
    h('div', { class: 'pager' }, first, prev, info, next, last));

  function go(offset) {
    state.offset = Math.max(0, offset);
    refresh();
  }

  /** draw one page of the server's answer */
  function show(page) {
    state.total = page.total;
    state.loadedAt = Date.now();
    error.hidden = true;
    const rows = page.items.map((row) => h('tr', null, columns.map((c) => h('td', { class: c.className, 'data-label': c.title }, c.cell(row)))));
    if (rows.length === 0) rows.push(h('tr', null, h('td', { colspan: columns.length, class: 'empty' }, empty)));
    tbody.replaceChildren(...rows);
    const from = page.total === 0 ? 0 : state.offset + 1;
    const to = state.offset + page.items.length;
    fill(info, `${formatCount(from)}–${formatCount(to)} of ${formatCount(page.total)}`);
    first.disabled = prev.disabled = state.offset === 0;
    next.disabled = last.disabled = to >= page.total;
    for (const th of thead.querySelectorAll('th')) th.removeAttribute('aria-sort');
    columns.forEach((c, i) => { if (c.sort && c.sort === state.sort) thead.rows[0].cells[i].setAttribute('aria-sort', c.sortDir ?? 'descending'); });
  }

  async function refresh() {
    state.loading?.abort();
    const ctl = new AbortController();
    state.loading = ctl;
    try {
      const page = await load({ offset: state.offset, limit: state.limit, sort: state.sort, signal: ctl.signal });
      if (ctl.signal.aborted) return;
      // the last page shrank under us (workers went away): step back to the new last page
      if (page.items.length === 0 && page.total > 0 && state.offset >= page.total) {
        go(Math.floor((page.total - 1) / state.limit) * state.limit);
        return;
      }
      show(page);
    } catch (err) {
      if (err.name === 'AbortError') return;
      fill(error, err.message);
      error.hidden = false;
    } finally {
      if (state.loading === ctl) state.loading = null;
    }
  }

  return {
    el,
    state,
    refresh,
    show,
    /** refetch the current page if the last load is older than `ms` (live ticks call this) */
    refreshIfOlder(ms) { if (!state.loading && Date.now() - state.loadedAt >= ms) refresh(); },
    destroy() { state.loading?.abort(); },
  };
}
