// bench-page.js — the render benchmark's load. Not part of the screen (web/ embeds app/, not
// tools/): web/tools/bench.mjs injects it into the signed-in page as a module script, and it puts
// its functions on window.__bench.
// n synthetic vehicles around the demo corridors, each updated once a second. Updates arrive the
// way the SSE stream delivers them — JSON text parsed one event at a time, spread over the second
// in 20 slices — and go through the same path as stream events (map.upsert, drawn at the next frame).
import * as M from '/web/app/map.js';

let timer = null;

export function start(n, { critical = 50 } = {}) {
  stop();
  const statuses = ['on_route', 'on_route', 'on_route', 'on_route', 'on_route', 'on_route', 'on_route', 'off_route', 'no_trip', 'offline'];
  const vs = [];
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (let i = 0; i < n; i++) {
    vs.push({ vehicle_id: 'bench-' + i, carrier_id: 'bench-' + (i % 20), plate: 'B' + i, lon: 106.6 + rnd() * 0.8, lat: 29.55 + rnd() * 0.4,
      heading_deg: rnd() * 360, speed_kmh: 30 + rnd() * 50, status: statuses[i % statuses.length], trip_id: null, corridor_id: null, distance_m: null });
  }
  const crit = new Set(vs.slice(0, critical).map((v) => v.vehicle_id));
  M.setCritical(crit);
  const slices = 20;
  let k = 0;
  const tick = () => {
    const now = new Date().toISOString();
    const from = Math.floor((k % slices) * n / slices), to = Math.floor(((k % slices) + 1) * n / slices);
    for (let i = from; i < to; i++) {
      const v = vs[i];
      const h = v.heading_deg * Math.PI / 180;
      v.lon += Math.sin(h) * 0.0002; v.lat += Math.cos(h) * 0.00015;
      if (v.lon < 106.6 || v.lon > 107.4 || v.lat < 29.55 || v.lat > 29.95) v.heading_deg = (v.heading_deg + 180) % 360;
      v.ts = now; v.updated_at = now;
      M.upsert(JSON.parse(JSON.stringify(v))); // the stream's cost: one JSON text per event
    }
    if (k % slices === 0) M.setCritical(crit);
    k++;
  };
  tick();
  timer = setInterval(tick, 1000 / slices);
}

export function stop() { clearInterval(timer); timer = null; }

// frames records requestAnimationFrame intervals for ms and returns their distribution.
export function frames(ms) {
  return new Promise((resolve) => {
    const d = [];
    let last = performance.now();
    const t0 = last;
    let long = 0;
    const obs = typeof PerformanceObserver !== 'undefined' ? new PerformanceObserver((l) => { for (const e of l.getEntries()) long = Math.max(long, e.duration); }) : null;
    try { obs && obs.observe({ type: 'longtask', buffered: false }); } catch { /* unsupported */ }
    const f = (now) => {
      d.push(now - last); last = now;
      if (now - t0 < ms) { requestAnimationFrame(f); return; }
      obs && obs.disconnect();
      d.sort((a, b) => a - b);
      const q = (p) => d[Math.min(d.length - 1, Math.floor(p * d.length))];
      resolve({ frames: d.length, fps: d.length / (ms / 1000), p50: q(0.5), p95: q(0.95), p99: q(0.99), max: d[d.length - 1],
        over100: d.filter((x) => x > 100).length, longestTask: long, updated: M.stats.updated, maxFlushMs: M.stats.maxFlushMs,
        maxUploadMs: M.stats.layer && M.stats.layer.maxMs, maxClusterMs: M.stats.maxClusterMs, clusterUpdates: M.stats.clusterUpdates, repaints: M.stats.flushes, repaintCostMs: M.stats.repaintCostMs });
    };
    requestAnimationFrame(f);
  });
}

window.__bench = { start, stop, frames };
