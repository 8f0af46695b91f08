// Bits shared by the pages.
import { h, fill } from '../lib/dom.js';
import { formatCount } from '../lib/format.js';

/** "1 user", "1,204 users" */
export const plural = (n, word) => `${formatCount(n)} ${word}${n === 1 ? '' : 's'}`;

/** a message line for a failed request; hidden until show() */
export function errorBox() {
  const el = h('p', { class: 'error', role: 'alert', hidden: true });
  return {
    el,
    show(err) { fill(el, err.message); el.hidden = false; },
    clear() { el.hidden = true; },
  };
}
