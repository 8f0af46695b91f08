// A tiny element builder. Every piece of data goes in as a text node or through a
// named property; nothing here parses HTML, so pool data (user and worker names are
// chosen by miners) can never become markup.

/**
 * h('a', { href: '#/', class: 'x', title: t }, 'text', childNode, [more], null)
 * Attributes are set with setAttribute (never on* handlers: pass `on: { click: fn }`).
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      if (k === 'on') {
        for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
      } else if (k === 'dataset') {
        Object.assign(el.dataset, v);
      } else if (/^on/i.test(k)) {
        throw new Error(`h(): inline handler attribute ${k} refused`);
      } else {
        el.setAttribute(k, v === true ? '' : String(v));
      }
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** replace an element's content with the given children (text or nodes) */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** link to a user's page; the name goes into the URL percent-encoded, into the page as text */
export function userHref(user) {
  return `#/user/${encodeURIComponent(user)}`;
}
