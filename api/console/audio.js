// Playing a recording: the API wants the bearer token on /recordings/{id}/audio and
// browsers cannot add headers to an <audio> element's requests. The console's
// service worker (sw.js) adds it, so the element plays the audio URL itself and
// seeks with Range requests. Where no service worker can run (a page not served
// over HTTPS or from localhost), the whole file is fetched with the header into a
// blob: URL instead; it seeks within the blob.

import { ApiError } from './api.js';
import { session } from './session.js';

const CONTROL_TIMEOUT_MS = 3000;
let worker = null;

function answerTokenRequests(event) {
  if (event.data && event.data.type === 'callcase.token?' && event.ports[0]) {
    event.ports[0].postMessage({ token: session.token });
  }
}

async function control(container) {
  await container.register('sw.js', { scope: './' });
  await container.ready;
  if (!container.controller) {
    await new Promise((resolve) => container.addEventListener('controllerchange', resolve, { once: true }));
  }
  return true;
}

async function startWorker() {
  if (!('serviceWorker' in navigator) || !window.isSecureContext) return false;
  const container = navigator.serviceWorker;
  container.addEventListener('message', answerTokenRequests);
  container.startMessages();
  const late = new Promise((resolve) => { setTimeout(() => resolve(false), CONTROL_TIMEOUT_MS); });
  try {
    return await Promise.race([control(container), late]);
  } catch {
    return false;
  }
}

// true when the service worker controls this page (started once per page load)
export function audioWorker() {
  if (!worker) worker = startWorker();
  return worker;
}

// Point `audio` at the recording; returns a function that releases what it holds.
export async function attachAudio(audio, url) {
  if (await audioWorker()) {
    audio.dataset.via = 'service-worker';
    audio.src = url;
    return () => audio.removeAttribute('src');
  }
  const response = await fetch(url, { headers: { Authorization: `Bearer ${session.token}` } });
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const blobUrl = URL.createObjectURL(await response.blob());
  audio.dataset.via = 'blob';
  audio.src = blobUrl;
  return () => {
    audio.removeAttribute('src');
    URL.revokeObjectURL(blobUrl);
  };
}
