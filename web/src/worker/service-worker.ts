// The service worker that lets the app open with no network: it keeps the app's own files (the page, its scripts,
// the engine's wasm; the build lists them with a version that changes with their contents) in a Cache of that
// version and answers them from it. Models are not its business: the engine Worker keeps those in OPFS itself, so
// their requests (and everything else) go to the network untouched.
//
// A new version installs beside the running one and waits: the page says an update is ready, and it takes over on
// the next visit (or at once when the page asks, for "reload now"). Stored models and images are never touched.
const sw = self as unknown as ServiceWorkerGlobalScope;
declare const WEBSD_SHELL: string[];    // the app's files, relative to this script (build.mjs)
declare const WEBSD_VERSION: string;

const CACHE = `websd-app-${WEBSD_VERSION}`;
const scope = new URL('./', sw.location.href);
const shellUrls = new Set(WEBSD_SHELL.map((f) => new URL(f, scope).href));
const page = new URL('index.html', scope).href;
// Refreshed from the network when it can be (the models this copy offers), else answered from the cache.
const networkFirst = new Set([new URL('models/index.json', scope).href]);

sw.addEventListener('install', (event) => {
  // cache: 'reload' skips the HTTP cache, so the files stored are the ones of this version.
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll([...shellUrls].map((u) => new Request(u, { cache: 'reload' })))));
});

sw.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) if (key.startsWith('websd-app-') && key !== CACHE) await caches.delete(key);
    await sw.clients.claim();  // the first visit's page is served from here from now on, so it works offline
  })());
});

sw.addEventListener('message', (event) => {
  if (event.data === 'websd-skip-waiting') void sw.skipWaiting();
  else if (event.data === 'websd-version') event.source?.postMessage({ version: WEBSD_VERSION });
});

sw.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  url.search = '';
  url.hash = '';
  // A navigation to the app (with any query: settings links) is the page itself.
  const key = request.mode === 'navigate' && (url.href === scope.href || url.href === page) ? page : url.href;
  if (networkFirst.has(key)) {
    event.respondWith(fetch(request).catch(async () => (await caches.match(key)) ?? Response.error()));
  } else if (shellUrls.has(key)) {
    event.respondWith((async () => (await (await caches.open(CACHE)).match(key)) ?? fetch(request))());
  }
});
