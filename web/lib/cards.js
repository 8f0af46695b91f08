// The row of figures at the top of a page: each card a label, a value and an
// optional small line under it; update() swaps only the texts.
import { h, fill } from './dom.js';

/** defs: [{ key, label }] → { el, set(key, value, sub?) } */
export function statCards(defs) {
  const cards = new Map();
  const el = h('section', { class: 'stats' }, defs.map(({ key, label }) => {
    const value = h('div', { class: 'value' }, '—');
    const sub = h('div', { class: 'sub' });
    cards.set(key, { value, sub });
    return h('div', { class: 'stat', dataset: { stat: key } }, h('div', { class: 'label' }, label), value, sub);
  }));
  return {
    el,
    set(key, value, subText) {
      const c = cards.get(key);
      if (!c) return;
      fill(c.value, value);
      fill(c.sub, subText ?? '');
    },
  };
}
