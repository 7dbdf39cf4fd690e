// bench.mjs — render benchmark of the monitoring screen (make bench-web): frame times in headless
// chromium with 10,000 and 100,000 vehicles each updated once a second (web/app/bench.js), at the
// default view (no clustering at that zoom) and zoomed out (clustered). Prints a Markdown table.
import { launch } from './harness.mjs';

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
    await page.evaluate(async ({ n, view }) => {
      const b = await import('/web/app/bench.js');
      window.__bench = b;
      const map = window.__corridor.map.getMap();
      if (view === 'zoomed-out') map.jumpTo({ zoom: 8.5 });
      b.start(n);
    }, { n, view });
    await page.evaluate(() => window.__bench.frames(5000)); // warm up: first load of every vehicle
    const r = await page.evaluate((ms) => window.__bench.frames(ms), SECONDS * 1000);
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
