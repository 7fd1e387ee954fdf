// Offline and updates: registers the service worker (worker/service-worker.ts) that keeps the app's files, says
// when a new version is ready (it takes over on the next visit, or now on "Reload now") and when this visit runs
// a new version for the first time.
const VERSION_KEY = 'websd.appVersion';

export async function startOffline(note: HTMLElement, text: HTMLElement, reload: HTMLButtonElement) {
  if (!navigator.serviceWorker) return;
  let registration: ServiceWorkerRegistration;
  try {
    registration = await navigator.serviceWorker.register('sw.js');
  } catch {
    return;  // no offline copy (a browser or a policy that allows no service worker): the app still runs online
  }
  const say = (message: string, offerReload: boolean) => {
    note.hidden = false;
    text.textContent = message;
    reload.hidden = !offerReload;
  };
  const waiting = () => {
    if (!registration.waiting || !navigator.serviceWorker.controller) return;
    say('A new version of websd is ready: it starts the next time you open this page. Stored models and images ' +
      'stay.', true);
  };
  reload.onclick = () => {
    navigator.serviceWorker.addEventListener('controllerchange', () => location.reload(), { once: true });
    registration.waiting?.postMessage('websd-skip-waiting');
  };
  registration.addEventListener('updatefound', () => {
    const installing = registration.installing;
    installing?.addEventListener('statechange', () => { if (installing.state === 'installed') waiting(); });
  });
  waiting();
  // The version this page runs (the controlling worker's), against the one the last visit ran.
  const controller = navigator.serviceWorker.controller;
  if (!controller) return;
  navigator.serviceWorker.addEventListener('message', (e) => {
    const version = (e.data as { version?: string })?.version;
    if (!version) return;
    const before = localStorage.getItem(VERSION_KEY);
    localStorage.setItem(VERSION_KEY, version);
    if (before && before !== version) say(`websd was updated (version ${version}).`, false);
  });
  controller.postMessage('websd-version');
}
