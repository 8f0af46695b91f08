// The one server-sent-events stream of the page (api/v1/events). Pages subscribe
// to event types; a user page sets the stream's user, which reopens the single
// EventSource with ?user=… (never a second stream). EventSource reconnects by itself.

export class LiveEvents {
  constructor(indicator) {
    this.indicator = indicator;
    this.user = null;
    this.source = null;
    this.handlers = new Map(); // type → Set<fn>
    this.bound = new Set();    // types with a listener on the current source
  }

  /** (re)open the stream, for `user` too when given */
  setUser(user) {
    if (this.source && user === this.user) return;
    this.user = user;
    this.source?.close();
    const url = new URL('api/v1/events', document.baseURI);
    if (user != null) url.searchParams.set('user', user);
    const es = new EventSource(url);
    this.source = es;
    this.bound = new Set();
    for (const type of this.handlers.keys()) this.bind(type);
    this.state('connecting');
    es.addEventListener('open', () => this.state('live'));
    es.addEventListener('error', () => {
      if (es.readyState !== EventSource.CLOSED) return this.state('connecting'); // the browser retries by itself
      // a refusal (e.g. the server's 503 when its stream limit is reached) ends an EventSource
      // for good: try again in 30 s, the same stream, not a tighter loop
      this.state('down');
      clearTimeout(this.retry);
      this.retry = setTimeout(() => { if (this.source === es) { this.source = null; this.setUser(this.user); } }, 30_000);
    });
  }

  /** subscribe to an event type; returns the unsubscribe function */
  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, new Set());
    this.handlers.get(type).add(fn);
    this.bind(type);
    return () => this.handlers.get(type)?.delete(fn);
  }

  bind(type) {
    if (!this.source || this.bound.has(type)) return;
    this.bound.add(type);
    this.source.addEventListener(type, (ev) => {
      let data;
      try { data = JSON.parse(ev.data); } catch { return; } // a torn event: the next one comes in 5 s
      for (const fn of this.handlers.get(type) ?? []) {
        try { fn(data); } catch (err) { console.error(`event ${type}:`, err); }
      }
    });
  }

  state(s) {
    if (!this.indicator) return;
    this.indicator.dataset.state = s;
    this.indicator.title = { live: 'live updates', connecting: 'connecting to live updates…', down: 'live updates stopped' }[s];
  }
}
