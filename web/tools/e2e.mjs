// e2e.mjs — the monitoring screen's browser test (run by scripts/web-test.sh, which starts
// `corridor serve --demo` and sets CORRIDOR_URL, CORRIDOR_TOKEN and ARTIFACTS).
// Headless Debian chromium driven by playwright-core: sign in, vehicles move, a deviation alarm
// appears and sounds, acknowledge and resolve it, the stream drops and resumes with no alarm lost,
// a track replays at 16×, the screen switches to Chinese. Screenshots go to $ARTIFACTS.
import test from 'node:test';
import assert from 'node:assert/strict';
import { launch, api, until, makeDeviation } from './harness.mjs';

const URL = process.env.CORRIDOR_URL, TOKEN = process.env.CORRIDOR_TOKEN, OUT = process.env.ARTIFACTS || '.';

test('monitoring screen end to end', { timeout: 420_000 }, async (t) => {
  const { browser, page, errors } = await launch({ locale: 'en-US' });
  t.after(() => browser.close());
  const ranges = [];
  page.on('response', (r) => { if (r.url().endsWith('/basemap/tiles.pmtiles') && r.status() === 206) ranges.push(r.url()); });
  // Steps run in order; after a failure the rest are skipped (they depend on it).
  let failed = false;
  const step = (name, fn) => t.test(name, { skip: failed && 'an earlier step failed' }, async () => {
    try { await fn(); } catch (e) { failed = true; await page.screenshot({ path: `${OUT}/failed.png` }).catch(() => {}); throw e; }
  });

  await step('sign in with a pasted token', async () => {
    await page.goto(URL + '/');
    await page.fill('#token', 'not-a-token');
    await page.click('#signin-form button[type=submit]');
    await page.waitForSelector('#signin-error:text("not accepted")');
    await page.fill('#token', TOKEN);
    await page.click('#signin-form button[type=submit]');
    await page.waitForSelector('#app:not([hidden])');
    await page.waitForFunction(() => document.querySelector('#stream-state')?.dataset.state === 'live');
  });

  await step('vehicles appear and move', async () => {
    await page.waitForFunction(() => window.__corridor.map.vehicles().size >= 10, null, { timeout: 20_000 });
    const before = await page.evaluate(() => Object.fromEntries([...window.__corridor.map.vehicles()].map(([id, v]) => [id, v.st.ts])));
    await page.waitForFunction((b) => [...window.__corridor.map.vehicles()].some(([id, v]) => b[id] && v.st.ts !== b[id]), before, { timeout: 30_000 });
    const kpi = await page.textContent('[data-kpi=total] .v');
    assert.ok(+kpi >= 18, `KPI total ${kpi}`);
  });

  await step('the overlay draws every vehicle where the map puts it (zoom 8.5, 10.4, 13)', async () => {
    // The vehicles are on a 2D canvas above the MapLibre canvas, projected by the overlay itself:
    // at every zoom its projection must match map.project, and from zoom 10 (no clusters) every
    // vehicle on screen must have paint under its centre.
    const r = await page.evaluate(() => {
      const map = window.__corridor.map.getMap(), ov = window.__corridor.map.overlay();
      const view = { center: map.getCenter(), zoom: map.getZoom() };
      const out = [];
      for (const zoom of [8.5, 10.4, 13]) {
        const vs = [...window.__corridor.map.vehicles().values()].filter((v) => v.src);
        map.jumpTo({ center: [vs[0].st.lon, vs[0].st.lat], zoom });
        const [a, b, c, d, e, f] = ov.transform();
        ov.draw();
        const g = ov.canvas.getContext('2d'), dpr = ov.dpr;
        let err = 0, painted = 0, onScreen = 0;
        for (const v of vs) {
          const p = map.project([v.st.lon, v.st.lat]);
          err = Math.max(err, Math.hypot(a * v.mx + c * v.my + e - p.x, b * v.mx + d * v.my + f - p.y));
          if (p.x < 0 || p.y < 0 || p.x >= ov.w || p.y >= ov.h) continue;
          onScreen++;
          if (g.getImageData(Math.round(p.x * dpr), Math.round(p.y * dpr), 1, 1).data[3] > 0) painted++;
        }
        out.push({ zoom, err, painted, onScreen, fleet: ov.showFleet });
      }
      map.jumpTo(view);
      return out;
    });
    for (const z of r) {
      assert.ok(z.err < 0.01, `zoom ${z.zoom}: overlay off the map by ${z.err} px`);
      if (z.zoom >= 10) assert.ok(z.fleet && z.onScreen > 0 && z.painted === z.onScreen, `zoom ${z.zoom}: ${JSON.stringify(z)}`);
    }
  });

  await step('a redraw in slices (large fleets) swaps in the whole fleet', async () => {
    // The demo fleet redraws at once; pretend a whole redraw is slow so that the overlay draws on
    // its hidden canvas in slices and swaps it in when complete.
    const r = await page.evaluate(async () => {
      const map = window.__corridor.map.getMap(), ov = window.__corridor.map.overlay();
      const front = ov.canvas;
      ov.cost = 1e9; ov.update();
      for (let k = 0; k < 600 && ov.job; k++) await new Promise((res) => requestAnimationFrame(res));
      const g = ov.canvas.getContext('2d'), dpr = ov.dpr;
      let painted = 0, onScreen = 0;
      for (const v of window.__corridor.map.vehicles().values()) {
        if (!v.src) continue;
        const p = map.project([v.st.lon, v.st.lat]);
        if (p.x < 0 || p.y < 0 || p.x >= ov.w || p.y >= ov.h) continue;
        onScreen++;
        if (g.getImageData(Math.round(p.x * dpr), Math.round(p.y * dpr), 1, 1).data[3] > 0) painted++;
      }
      const res = { swapped: ov.canvas !== front, job: !!ov.job, visible: ov.canvas.style.visibility !== 'hidden' && front.style.visibility === 'hidden', painted, onScreen };
      ov.draw(); // back to whole redraws (the next one measures the real cost)
      return res;
    });
    assert.ok(r.swapped && !r.job && r.visible && r.onScreen > 0 && r.painted === r.onScreen, JSON.stringify(r));
  });

  await step('the PMTiles base map is read in byte ranges', async () => {
    // web-test.sh serves web/testdata/tiny.pmtiles (CORRIDOR_BASEMAP_URL) at /basemap/tiles.pmtiles.
    await page.waitForFunction(() => window.__corridor.map.basemap.tileType === 2 && window.__corridor.map.getMap().getLayer('pm-raster'));
    await until(() => ranges.length > 0, 20_000, 'a 206 from /basemap/tiles.pmtiles');
    await page.waitForFunction(() => window.__corridor.map.getMap().isSourceLoaded('pm'));
  });

  await step('clicking a vehicle on the map opens its card', async () => {
    // The most isolated vehicle on screen, clicked at its projected position (the screen finds
    // the nearest vehicle within a few pixels, on the CPU).
    const target = await page.evaluate(() => {
      const map = window.__corridor.map.getMap();
      const pts = [...window.__corridor.map.vehicles()].filter(([, v]) => v.src).map(([id, v]) => ({ id, p: map.project([v.st.lon, v.st.lat]) }));
      const w = map.getCanvas().clientWidth, h = map.getCanvas().clientHeight;
      let best = null;
      for (const a of pts) {
        if (a.p.x < 40 || a.p.y < 40 || a.p.x > w - 40 || a.p.y > h - 40) continue;
        const gap = Math.min(...pts.filter((b) => b !== a).map((b) => Math.hypot(a.p.x - b.p.x, a.p.y - b.p.y)));
        if (!best || gap > best.gap) best = { id: a.id, x: a.p.x, y: a.p.y, gap };
      }
      const r = map.getCanvas().getBoundingClientRect();
      return best && { ...best, x: best.x + r.left, y: best.y + r.top };
    });
    assert.ok(target && target.gap > 12, `no isolated vehicle: ${JSON.stringify(target)}`);
    await page.mouse.click(target.x + 2, target.y - 1);
    await page.waitForFunction((id) => window.__corridor.S.selected === id, target.id);
    await page.waitForSelector('#card .plate-big');
  });

  let alarmID;
  await step('a deviation alarm appears and sounds', async () => {
    alarmID = await makeDeviation(URL, TOKEN, 'webtest-1');
    const item = page.locator(`li.alarm[data-id="${alarmID}"]`);
    await item.waitFor({ timeout: 20_000 });
    assert.match(await item.getAttribute('class'), /sev-critical.*flash|flash/);
    // A vehicle with an unresolved critical alarm is drawn in its own layer, never clustered.
    await page.waitForFunction(() => window.__corridor.map.vehicles().get('webtest-1')?.src === 'vcrit');
    await page.waitForSelector('#sounding:not([hidden])');
    const beeps0 = await page.evaluate(() => window.__corridor.sound.beeps);
    await page.waitForFunction((b) => window.__corridor.sound.beeps > b, beeps0, { timeout: 5000 });
    const audio = await page.evaluate(() => window.__corridor.sound.sounding);
    assert.equal(audio, true);
    // Zoomed out, the overlay canvas draws the fleet as clusters (computed in the cluster worker)
    // with their counts as text; the critical vehicle is in no cluster and drawn on top; the
    // MapLibre style has no vehicle source at all.
    const clustered = await page.evaluate(async () => {
      const M = window.__corridor.map, map = M.getMap(), ov = M.overlay();
      window.__view = { center: map.getCenter(), zoom: map.getZoom() };
      map.jumpTo({ zoom: 7.5 });
      for (let i = 0; i < 200; i++) {
        // Wait for the overlay to be drawn for this view with the worker's clusters for this zoom.
        const ready = ov.cl && Math.floor(ov.cl.zoom) === Math.floor(map.getZoom()) && ov.drawnFor(ov.view()) && !ov.job;
        const cs = ready ? ov.clusters().filter((c) => c.count > 1) : [];
        if (cs.length) {
          // Paint under every cluster on screen, read in the same task as the list (the worker's
          // next answer redraws the overlay).
          const g = ov.canvas.getContext('2d'), dpr = ov.dpr;
          const alpha = cs.filter((c) => c.x >= 0 && c.y >= 0 && c.x < ov.w && c.y < ov.h)
            .map((c) => g.getImageData(Math.round(c.x * dpr), Math.round(c.y * dpr), 1, 1).data[3]);
          const crit = M.vehicles().get('webtest-1'), p = map.project([crit.st.lon, crit.st.lat]);
          const critPick = M.pick(p);
          const leaves = (await Promise.all(cs.map((c) => M.clusterLeaves(c.id)))).flat();
          const counted = cs.reduce((s, c) => s + c.count, 0);
          // A reload of the worker's index between the list and the leaves renumbers the
          // clusters: ask again.
          if (leaves.length === counted || i >= 150) return {
            clusters: cs.length, counted, leaves: leaves.length, ids: leaves, alpha, cs,
            labels: cs.every((c) => c.label && /^[0-9.]+k?$/.test(c.label)), painted: alpha.length > 0 && alpha.every((x) => x > 0),
            critPick, vehSource: !!map.getSource('veh'), fleet: ov.showFleet,
          };
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      return null;
    });
    assert.ok(clustered && clustered.clusters > 0, 'no cluster at zoom 7.5');
    assert.equal(clustered.fleet, false, 'the fleet pass is off below zoom 10');
    assert.ok(clustered.labels, `cluster count labels: ${JSON.stringify(clustered)}`);
    assert.ok(clustered.painted, `a cluster on screen with no paint at its centre: ${JSON.stringify(clustered)}`);
    assert.equal(clustered.leaves, clustered.counted, 'cluster leaves and counts differ');
    assert.ok(!clustered.ids.includes('webtest-1'), 'the critical vehicle is inside a cluster');
    assert.equal(clustered.critPick, 'webtest-1', 'the critical vehicle is not on top');
    assert.equal(clustered.vehSource, false, 'MapLibre still has a vehicle source');
    await page.screenshot({ path: `${OUT}/clusters-en.png` });
    // A click on a cluster (one the page does not cover with a label, away from the critical
    // vehicle) zooms in past the clusters.
    const target = await page.evaluate(() => {
      const M = window.__corridor.map, map = M.getMap(), ov = M.overlay(), box = map.getCanvas().getBoundingClientRect();
      const crit = M.vehicles().get('webtest-1'), p = map.project([crit.st.lon, crit.st.lat]);
      for (const c of ov.clusters()) {
        if (c.count < 2 || Math.hypot(c.x - p.x, c.y - p.y) < 30) continue;
        const x = box.left + c.x, y = box.top + c.y;
        if (document.elementFromPoint(x, y) === map.getCanvas()) return { x, y };
      }
      return null;
    });
    assert.ok(target, 'no cluster free to click');
    await page.mouse.click(target.x, target.y);
    await page.waitForFunction(() => window.__corridor.map.getMap().getZoom() >= 10 && !window.__corridor.map.getMap().isMoving(), null, { timeout: 20_000 });
    await page.evaluate(() => window.__corridor.map.getMap().jumpTo(window.__view));
    // The wall layout with a demo truck's card open (the overview stays where it is).
    await page.evaluate(() => window.__corridor.selectVehicle('csc-101'));
    await page.waitForSelector('#card .plate-big');
    await page.screenshot({ path: `${OUT}/wall-en.png` });
  });

  await step('acknowledge and resolve it with a disposal and a note', async () => {
    const item = page.locator(`li.alarm[data-id="${alarmID}"]`);
    await item.locator('button.ack').click();
    await page.waitForSelector(`li.alarm[data-id="${alarmID}"][data-state=acknowledged]`);
    const acked = await api(URL, TOKEN, 'GET', `/v1/alarms/${alarmID}`);
    assert.equal(acked.state, 'acknowledged');
    assert.ok(acked.acknowledged_by);
    await page.locator(`li.alarm[data-id="${alarmID}"] button.resolve`).click();
    await page.selectOption('#disposal', 'false_alarm');
    await page.fill('#resolve-note', 'browser test: driver confirmed a wrong turn');
    await page.click('#resolve-form button[type=submit]');
    await page.waitForFunction((id) => window.__corridor.alarms.all().get(id)?.state === 'resolved', alarmID);
    const resolved = await api(URL, TOKEN, 'GET', `/v1/alarms/${alarmID}`);
    assert.equal(resolved.state, 'resolved');
    assert.match(resolved.note, /wrong turn/);
    await page.selectOption('#f-state', 'resolved');
    await page.locator(`li.alarm[data-id="${alarmID}"]`).waitFor();
    await page.selectOption('#f-state', 'unresolved');
  });

  await step('the stream drops and resumes with no alarm lost', async () => {
    await page.evaluate(() => window.__corridor.dropStream(60_000));
    await page.waitForFunction(() => document.querySelector('#stream-state').dataset.state === 'down');
    const missedID = await makeDeviation(URL, TOKEN, 'webtest-2');
    assert.equal(await page.evaluate((id) => window.__corridor.alarms.all().has(id), missedID), false, 'alarm seen while the stream was down');
    await page.evaluate(() => window.__corridor.connect());
    await page.waitForFunction(() => document.querySelector('#stream-state').dataset.state === 'live');
    await page.locator(`li.alarm[data-id="${missedID}"]`).waitFor({ timeout: 10_000 });
    // Every unresolved alarm on the server is in the queue.
    const server = new Set();
    for (const q of ['state=open', 'state=acknowledged']) {
      for (const a of (await api(URL, TOKEN, 'GET', `/v1/alarms?limit=1000&${q}`)).alarms) server.add(a.id);
    }
    const missing = await page.evaluate((ids) => ids.filter((id) => !window.__corridor.alarms.all().has(id)), [...server]);
    assert.deepEqual(missing, []);
  });

  await step('the carrier list filters the map and the KPIs', async () => {
    await page.click('#carrier-list li[data-carrier="cs-chem"]');
    await page.waitForFunction(() => document.querySelector('[data-kpi=total] .v').textContent === '7');
    const shown = await page.evaluate(() => [...window.__corridor.map.vehicles().values()].filter((v) => v.src).map((v) => v.st.carrier_id));
    assert.ok(shown.length > 0 && shown.every((c) => c === 'cs-chem'), `shown: ${shown}`);
    await page.click('#carrier-list li[data-carrier=""]');
    await page.waitForFunction(() => [...window.__corridor.map.vehicles().values()].some((v) => v.src && v.st.carrier_id !== 'cs-chem'));
  });

  await step('replay a track at 16×', async () => {
    await page.locator('li.alarm[data-vehicle="webtest-2"]').first().click();
    await page.waitForSelector('#card .plate-big');
    await page.evaluate(() => { window.__corridor.S.selected = 'webtest-1'; });
    await page.click('#card .replay-btn');
    await page.fill('#rp-ids', 'webtest-1, webtest-2');
    await page.click('#rp-load');
    await page.waitForFunction(() => window.__corridor.replay.loaded && window.__corridor.replay.fixes >= 16);
    await page.selectOption('#rp-speed', '16');
    await page.click('#rp-play');
    const a = await page.evaluate(() => ({ sim: window.__corridor.replay.simT, real: performance.now() }));
    await page.waitForTimeout(1500); // playback is time-proportional: measure it over real time
    const b = await page.evaluate(() => ({ sim: window.__corridor.replay.simT, real: performance.now() }));
    const ratio = (b.sim - a.sim) / (b.real - a.real);
    assert.ok(ratio > 10 && ratio < 22, `playback ran at ${ratio.toFixed(1)}×`);
    await page.click('#rp-play'); // pause
    assert.ok(await page.locator('#rp-marks .mk-alarm').count() >= 1, 'alarm marks on the timeline');
    await page.screenshot({ path: `${OUT}/replay-en.png` });
  });

  await step('switch to Chinese', async () => {
    await page.click('#top .lang-toggle');
    await page.waitForFunction(() => document.documentElement.lang === 'zh-CN');
    assert.match(await page.textContent('#alarms h2'), /报警队列/);
    assert.match(await page.textContent('[data-kpi=total] .k'), /车辆总数/);
    await page.click('#rp-close');
    await page.screenshot({ path: `${OUT}/wall-zh.png` });
    await page.setViewportSize({ width: 1366, height: 768 }); // a laptop
    await page.screenshot({ path: `${OUT}/laptop-zh.png` });
    // Remembered across a reload, and the token survives in this tab.
    await page.reload();
    await page.waitForSelector('#app:not([hidden])');
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'zh-CN');
  });

  if (!failed) assert.deepEqual(errors.filter((e) => !/status of 401/.test(e)) /* the wrong token tried first */, [], 'page errors');
});
