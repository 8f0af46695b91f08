// ckpool-ts dashboard: hash routes → page modules; one live event stream for all.
//   #/             pool overview
//   #/user/<user>  a user's (solo: an address's) workers
//   #/user/<user>/<worker>  the same, with that worker's chart
//   #/blocks       found blocks
import { h, userHref } from './lib/dom.js';
import { LiveEvents } from './lib/events.js';
import * as overview from './pages/overview.js';
import * as user from './pages/user.js';
import * as blocks from './pages/blocks.js';

const main = document.getElementById('main');
const events = new LiveEvents(document.getElementById('live'));
let unmount = null;

function resolve(hash) {
  const path = hash.replace(/^#/, '') || '/';
  if (path === '/') return { page: overview, params: {}, nav: '/' };
  if (path === '/blocks') return { page: blocks, params: {}, nav: '/blocks' };
  const m = path.match(/^\/user\/([^/]+)(?:\/([^/]+))?$/);
  if (m) {
    try {
      return { page: user, params: { user: decodeURIComponent(m[1]), worker: m[2] ? decodeURIComponent(m[2]) : null }, nav: null };
    } catch { /* bad escape: not found */ }
  }
  return null;
}

function show() {
  unmount?.();
  unmount = null;
  main.replaceChildren();
  const r = resolve(location.hash);
  for (const a of document.querySelectorAll('header nav a')) {
    a.toggleAttribute('aria-current', r?.nav != null && a.getAttribute('href') === `#${r.nav}`);
  }
  if (!r) {
    document.title = 'Not found · ckpool-ts';
    main.append(h('section', { class: 'card' }, h('h2', null, 'Not found'), h('p', null, 'No such page. ', h('a', { href: '#/' }, 'Back to the pool.'))));
    return;
  }
  document.title = `${r.page.title} · ckpool-ts`;
  unmount = r.page.mount(main, { events, params: r.params });
  window.scrollTo(0, 0);
}

document.getElementById('lookup').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const input = ev.target.elements.user;
  const name = input.value.trim();
  if (name) { location.hash = userHref(name); input.value = ''; input.blur(); }
});
window.addEventListener('hashchange', show);
show();
