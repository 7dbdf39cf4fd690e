// bench.mjs — render benchmark of the monitoring screen (make bench-web): frame times in headless
// chromium with 10,000 and 100,000 vehicles each updated once a second (bench-page.js, injected
// into the page from disk: the binary does not serve it), at the default view (no clustering at
// that zoom) and zoomed out (clustered). Prints a Markdown table.
//   BENCH_PROFILE=1 also records a CPU profile of the page's main thread during the measurement
//   and prints the functions with the most self time.
import { readFileSync } from 'node:fs';
import { launch } from './harness.mjs';

const PAGE_SCRIPT = readFileSync(new globalThis.URL('./bench-page.js', import.meta.url), 'utf8');
const PROFILE = !!process.env.BENCH_PROFILE;

const URL = process.env.CORRIDOR_URL, TOKEN = process.env.CORRIDOR_TOKEN;
const SECONDS = +(process.env.BENCH_SECONDS || 15);
const SIZES = (process.env.BENCH_SIZES || '10000,100000').split(',').map(Number);

const rows = [];
for (const n of SIZES) {
  for (const view of ['default', 'zoomed-out']) {
    const { browser, page } = await launch();
    await page.goto(URL + '/');
    await page.fill('#token', TOKEN);
    await page.click('#signin-form button[type=submit]');
    await page.waitForFunction(() => document.querySelector('#stream-state')?.dataset.state === 'live', null, { timeout: 60_000 });
    await page.addScriptTag({ content: PAGE_SCRIPT, type: 'module' });
    await page.waitForFunction(() => window.__bench);
    await page.evaluate(({ n, view }) => {
      const map = window.__corridor.map.getMap();
      if (view === 'zoomed-out') map.jumpTo({ zoom: 8.5 });
      window.__bench.start(n);
    }, { n, view });
    await page.evaluate(() => window.__bench.frames(5000)); // warm up: first load of every vehicle
    let cdp = null;
    if (PROFILE) {
      cdp = await page.context().newCDPSession(page);
      await cdp.send('Profiler.enable');
      await cdp.send('Profiler.setSamplingInterval', { interval: 1000 });
      await cdp.send('Profiler.start');
    }
    const r = await page.evaluate((ms) => window.__bench.frames(ms), SECONDS * 1000);
    if (cdp) printProfile((await cdp.send('Profiler.stop')).profile, `${n} ${view}`);
    const zoom = await page.evaluate(() => window.__corridor.map.getMap().getZoom());
    rows.push({ n, view, zoom, ...r });
    console.error(JSON.stringify(rows[rows.length - 1]));
    await browser.close();
  }
}
const f = (x) => (x == null ? '—' : x.toFixed(0));
console.log(`| vehicles | view (zoom) | frames/s | p50 ms | p95 ms | p99 ms | max ms | frames > 100 ms | longest task ms | updates/s |`);
console.log(`| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |`);
for (const r of rows) {
  console.log(`| ${r.n.toLocaleString('en')} | ${r.view} (${r.zoom.toFixed(1)}) | ${r.fps.toFixed(1)} | ${f(r.p50)} | ${f(r.p95)} | ${f(r.p99)} | ${f(r.max)} | ${r.over100} of ${r.frames} | ${f(r.longestTask)} | ${Math.round(r.updated / (SECONDS + 5)).toLocaleString('en')} |`);
}

// printProfile prints the 15 functions with the most self time in a CDP CPU profile.
function printProfile(p, what) {
  const self = new Map(), byID = new Map(p.nodes.map((n) => [n.id, n]));
  const dt = new Map();
  for (let i = 0; i < p.samples.length; i++) dt.set(p.samples[i], (dt.get(p.samples[i]) || 0) + (p.timeDeltas[i] || 0));
  for (const [id, us] of dt) {
    const n = byID.get(id), cf = n.callFrame;
    const key = `${cf.functionName || '(anonymous)'} ${cf.url.split('/').pop()}:${cf.lineNumber + 1}`;
    self.set(key, (self.get(key) || 0) + us);
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  console.error(`profile ${what}: ${(total / 1e6).toFixed(1)} s sampled`);
  for (const [k, us] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.error(`  ${(us / 1e3).toFixed(0).padStart(7)} ms  ${k}`);
}
