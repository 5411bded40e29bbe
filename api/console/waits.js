// Since when the oldest call of each queue has been waiting, as far as the events
// tell: routing's queue events give only how many calls wait, so arrivals are kept
// in order and calls leave from the front (routing offers the longest waiting call
// first; an abandoned call is one nobody took in time, the oldest). Calls already
// waiting when the page loaded have an unknown start (null) until they leave.

export class WaitClock {
  constructor() {
    this.arrivals = new Map(); // queue id -> [ms | null, ...] oldest first
  }

  reset(queueId, waiting) {
    this.arrivals.set(queueId, Array(Math.max(0, waiting || 0)).fill(null));
  }

  update(queueId, waiting, at) {
    const list = this.arrivals.get(queueId) || [];
    const count = Math.max(0, waiting || 0);
    while (list.length > count) list.shift();
    while (list.length < count) list.push(Number.isFinite(at) ? at : null);
    this.arrivals.set(queueId, list);
  }

  // ms of the oldest known arrival, or null (none waiting, or not known)
  oldest(queueId) {
    const list = this.arrivals.get(queueId) || [];
    return list.length && list[0] !== null ? list[0] : null;
  }
}
