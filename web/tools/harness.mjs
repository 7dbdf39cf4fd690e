// harness.mjs — what the browser test and the render benchmark share: launching Debian's
// chromium with playwright-core, calling the API, and making a route deviation.
import { chromium } from 'playwright-core';

export async function launch({ locale = 'en-US', viewport = { width: 1920, height: 1080 } } = {}) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
      '--autoplay-policy=no-user-gesture-required'],
  });
  const context = await browser.newContext({ viewport, locale, timezoneId: 'Europe/Berlin' });
  context.setDefaultTimeout(60_000); // a shared, loaded 2-core machine renders WebGL in software
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  return { browser, context, page, errors };
}

export async function api(base, token, method, path, body) {
  const r = await fetch(base + path, { method, headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  if (!r.ok && r.status !== 409) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// until polls fn until it returns a truthy value (never a fixed sleep), at most ms.
export async function until(fn, ms = 15000, what = 'condition') {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// makeDeviation gives vehicle id a trip on a test corridor and pushes five fixes on it and three
// ~500 m off it; it returns the id of the route_deviation alarm the engine raises.
export async function makeDeviation(base, token, id) {
  await api(base, token, 'POST', '/v1/carriers', { id: 'webtest', name: 'Web Test Logistics 网页测试' });
  await api(base, token, 'POST', '/v1/vehicles', { id, carrier_id: 'webtest', plate: '渝T·' + id.slice(-1).padStart(5, '0'), hazard_class: '3', un_number: '1203' });
  const corridors = await api(base, token, 'GET', '/v1/corridors');
  let c = corridors.features.find((f) => f.properties.name === 'Web test corridor');
  if (!c) {
    c = await api(base, token, 'POST', '/v1/corridors', { type: 'Feature', geometry: { type: 'LineString', coordinates: [[107.00, 29.80], [107.02, 29.801], [107.05, 29.80]] },
      properties: { name: 'Web test corridor', buffer_m: 200, max_speed_kmh: 60 } });
  }
  const now = Date.now();
  await api(base, token, 'POST', '/v1/trips', { vehicle_id: id, corridor_id: c.id, starts_at: new Date(now - 3600e3).toISOString(), ends_at: new Date(now + 4 * 3600e3).toISOString(),
    cargo: { un_number: '1203', hazard_class: '3', description: 'Gasoline', quantity_kg: 24000 } });
  const fixes = [];
  for (let i = 0; i < 8; i++) {
    const off = i >= 5;
    fixes.push({ vehicle_id: id, ts: new Date(now - (9 - i) * 60e3).toISOString(), lat: off ? 29.8053 : 29.8001, lon: 107.001 + 0.002 * i, speed_kmh: 45, heading_deg: 80 });
  }
  await api(base, token, 'POST', '/v1/telemetry', fixes);
  const found = await until(async () => (await api(base, token, 'GET', `/v1/alarms?vehicle_id=${id}&kind=route_deviation&active=true`)).alarms[0], 20000, `route_deviation of ${id}`);
  return found.id;
}
