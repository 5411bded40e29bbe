// The console's service worker: it adds the session's bearer token to the audio
// requests of the QA player, so an <audio> element can play /recordings/{id}/audio
// directly and seek with HTTP Range requests (each range audited by the API). It
// touches no other request and caches nothing. The token is asked of the page
// that made the request, each time; the worker keeps none.

const AUDIO = /^\/recordings\/\d+\/audio$/;
const ASK_TIMEOUT_MS = 2000;

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin
      || !AUDIO.test(url.pathname)) return;
  event.respondWith(withToken(event, url));
});

async function withToken(event, url) {
  const token = await askToken(await pageOf(event));
  if (!token) return new Response(null, { status: 401, statusText: 'log in first' });
  const headers = new Headers({ Authorization: `Bearer ${token}` });
  for (const name of ['Range', 'If-Range']) {
    const value = event.request.headers.get(name);
    if (value) headers.set(name, value);
  }
  return fetch(url.href, { headers, mode: 'same-origin', credentials: 'omit', cache: 'no-store' });
}

async function pageOf(event) {
  if (event.clientId) {
    const client = await self.clients.get(event.clientId);
    if (client) return client;
  }
  const windows = await self.clients.matchAll({ type: 'window' });
  return windows.find((w) => w.focused) || windows[0] || null;
}

function askToken(client) {
  if (!client) return Promise.resolve(null);
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    const timer = setTimeout(() => resolve(null), ASK_TIMEOUT_MS);
    channel.port1.onmessage = (message) => {
      clearTimeout(timer);
      resolve(message.data && message.data.token);
    };
    client.postMessage({ type: 'callcase.token?' }, [channel.port2]);
  });
}
