// Calls to the callcase API: every request carries the session's bearer token;
// websockets, which cannot send headers, carry it as ?token= on the upgrade.

import { session } from './session.js';

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.errorId = (body && body.error_id) || `http.${status}`;
    this.details = (body && body.details) || {};
  }
}

let unauthenticated = () => {};

// What to do when the API says the token is no longer good (log in again).
export function whenUnauthenticated(handler) {
  unauthenticated = handler;
}

export async function api(path, { method = 'GET', body, headers = {} } = {}) {
  const init = {
    method,
    headers: { Accept: 'application/json', ...headers },
    credentials: 'omit',
    cache: 'no-store',
  };
  if (session.token) init.headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => null);
  if (response.status === 401 && session.token && path !== '/auth/logout') unauthenticated();
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// A file from the API (a CSV report): its bytes and the name the API gives it.
export async function download(path) {
  const headers = { Authorization: `Bearer ${session.token}` };
  const response = await fetch(path, { headers, credentials: 'omit', cache: 'no-store' });
  if (response.status === 401) unauthenticated();
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const disposition = response.headers.get('Content-Disposition') || '';
  const name = (/filename="([^"]+)"/.exec(disposition) || [])[1] || 'callcase.csv';
  return { blob: await response.blob(), name };
}

// Hand `blob` to the browser as a download named `name`.
export function saveFile(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

export function socketUrl(path) {
  const url = new URL(path, location.origin);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  url.searchParams.set('token', session.token || '');
  return url.href;
}

// A websocket that opens again after it drops (1 s, 2 s, 4 s ... up to 30 s).
// onMessage gets each JSON message; onState 'open' | 'closed' | 'connecting'.
export class LiveSocket {
  constructor(path, onMessage, onState = () => {}) {
    this.path = path;
    this.onMessage = onMessage;
    this.onState = onState;
    this.retries = 0;
    this.stopped = true;
    this.timer = null;
    this.ws = null;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  connect() {
    this.onState('connecting');
    const ws = new WebSocket(socketUrl(this.path));
    let opened = false;
    this.ws = ws;
    ws.addEventListener('open', () => {
      opened = true;
      this.retries = 0;
      this.onState('open');
    });
    ws.addEventListener('message', (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      this.onMessage(message);
    });
    ws.addEventListener('close', () => {
      if (this.ws !== ws) return;
      this.onState('closed');
      if (this.stopped) return;
      if (!opened) api('/me').catch(() => {}); // a 401 there logs out
      const delay = Math.min(30000, 1000 * 2 ** this.retries);
      this.retries += 1;
      this.timer = setTimeout(() => this.connect(), delay);
    });
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close();
    this.ws = null;
  }
}

// A key for one filing: the same key sent again files nothing twice.
export function idempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
