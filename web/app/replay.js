// replay.js — replay of one or several vehicles over a time range: time-proportional playback at
// 1–64×, follow mode, a speed chart (uPlot) tied to the slider, alarm and stop marks on the
// timeline, and off-route stretches drawn red on the map. Data: GET /v1/vehicles/{id}/track
// (every page) and GET /v1/alarms?vehicle_id=&since=.
import uPlot from '/web/vendor/uplot/uPlot.esm.js';
import { api, trackAll, alarmsAll } from './api.js';
import { t, fmtDateTime, fmtTime, toLocalInput, fromLocalInput, onLang } from './i18n.js';
import * as M from './map.js';

const SPEEDS = [1, 2, 4, 8, 16, 32, 64];
const COLORS = ['#f5d547', '#4dd0e1', '#ff8a65', '#ba68c8', '#aed581'];
const STOP_KMH = 5, STOP_MIN_MS = 2 * 60 * 1000;
let ctx, R = null, plot = null, raf = 0, lastReal = 0;
export const state = { playing: false, speed: 16, simT: 0, t0: 0, t1: 0, fixes: 0, follow: true, loaded: false };

export function initReplay(c) { ctx = c; onLang(() => { if (!document.getElementById('replay').hidden) build(currentIDs(), true); }); }

function currentIDs() { const el = document.getElementById('rp-ids'); return el ? el.value.split(',').map((s) => s.trim()).filter(Boolean) : []; }

export function openReplay(ids) {
  document.getElementById('card').hidden = true;
  const box = document.getElementById('replay');
  box.hidden = false;
  build(ids, false);
}
function closeReplay() {
  stop();
  R = null; state.loaded = false;
  if (plot) { plot.destroy(); plot = null; }
  M.setReplay([], []); M.setReplayPositions([]);
  document.getElementById('replay').hidden = true;
  document.getElementById('card').hidden = false;
}

function build(ids, keep) {
  const box = document.getElementById('replay');
  const from = keep ? document.getElementById('rp-from').value : toLocalInput(Date.now() - 3600e3);
  const to = keep ? document.getElementById('rp-to').value : toLocalInput(Date.now() + 60e3);
  box.innerHTML = `
    <div class="rp-controls">
      <b>${t('replay.title')}</b>
      <label>${t('replay.vehicles')} <input id="rp-ids" size="22" value="${ids.join(', ')}"></label>
      <label>${t('replay.from')} <input id="rp-from" size="15" placeholder="YYYY-MM-DD HH:MM" value="${from}"></label>
      <label>${t('replay.to')} <input id="rp-to" size="15" placeholder="YYYY-MM-DD HH:MM" value="${to}"></label>
      <button type="button" id="rp-load" class="small">${t('replay.load')}</button>
      <button type="button" id="rp-play" class="small primary" disabled>${t('replay.play')}</button>
      <select id="rp-speed">${SPEEDS.map((s) => `<option value="${s}" ${s === state.speed ? 'selected' : ''}>${s}×</option>`).join('')}</select>
      <label><input type="checkbox" id="rp-follow" ${state.follow ? 'checked' : ''}> ${t('replay.follow')}</label>
      <span id="rp-time" class="rp-time"></span>
      <span id="rp-info" class="rp-info"></span>
      <button type="button" id="rp-close" class="small ghost" title="${t('replay.close')}">✕</button>
    </div>
    <div class="rp-timeline"><input id="rp-slider" type="range" min="0" max="1000" value="0" disabled><div id="rp-marks" class="rp-marks"></div></div>
    <div id="rp-chart" class="rp-chart"></div>
    <div class="rp-legend">${t('replay.marks')}</div>`;
  document.getElementById('rp-load').addEventListener('click', () => load(currentIDs()));
  document.getElementById('rp-play').addEventListener('click', () => (state.playing ? stop() : play()));
  document.getElementById('rp-speed').addEventListener('change', (e) => { state.speed = +e.target.value; });
  document.getElementById('rp-follow').addEventListener('change', (e) => { state.follow = e.target.checked; });
  document.getElementById('rp-close').addEventListener('click', closeReplay);
  document.getElementById('rp-slider').addEventListener('input', (e) => { seek(state.t0 + (state.t1 - state.t0) * e.target.value / 1000); });
  if (ids.length && !keep) load(ids);
}

async function load(ids) {
  stop();
  const from = fromLocalInput(document.getElementById('rp-from').value), to = fromLocalInput(document.getElementById('rp-to').value);
  if (!ids.length || !(from < to)) return;
  const info = document.getElementById('rp-info');
  info.textContent = t('replay.loading');
  try {
    await ensureCorridors(ids);
    const vs = await Promise.all(ids.map(async (id, i) => {
      const [fixes, alarms, trips] = await Promise.all([
        trackAll(id, from, to, (n) => { info.textContent = `${t('replay.loading')} ${n}`; }),
        alarmsAll({ vehicle_id: id, since: new Date(from).toISOString() }, 5),
        ctx.trips(id)]);
      const pts = fixes.map((f) => ({ t: Date.parse(f.properties.ts), lon: f.geometry.coordinates[0], lat: f.geometry.coordinates[1],
        v: f.properties.speed_kmh ?? null, h: f.properties.heading_deg ?? null }));
      return { id, color: COLORS[i % COLORS.length], pts, alarms: alarms.filter((a) => Date.parse(a.raised_at) <= to), trips };
    }));
    R = { vs, from, to };
    state.fixes = vs.reduce((n, v) => n + v.pts.length, 0);
    if (!state.fixes) { info.textContent = t('replay.empty'); M.setReplay([], []); return; }
    state.t0 = Math.min(...vs.filter((v) => v.pts.length).map((v) => v.pts[0].t));
    state.t1 = Math.max(...vs.filter((v) => v.pts.length).map((v) => v.pts[v.pts.length - 1].t));
    info.textContent = t('replay.fixes', { n: state.fixes });
    drawTrack(); drawMarks(); drawChart();
    state.loaded = true;
    document.getElementById('rp-play').disabled = false;
    document.getElementById('rp-slider').disabled = false;
    M.fitTo(vs.flatMap((v) => v.pts.map((p) => [p.lon, p.lat])));
    seek(state.t0);
  } catch (e) { info.textContent = e.message; }
}

// ensureCorridors fetches the corridors of the vehicles' trips that the screen does not have yet.
async function ensureCorridors(ids) {
  for (const id of ids) {
    for (const trip of await ctx.trips(id)) {
      if (!ctx.corridors.has(trip.corridor_id)) {
        try { ctx.corridors.set(trip.corridor_id, await api('/v1/corridors/' + trip.corridor_id)); } catch { /* deleted */ }
      }
    }
  }
}

// distanceM: metres from a point to a polyline, in a local flat projection (display only).
function distanceM(lon, lat, line) {
  const kx = 111320 * Math.cos(lat * Math.PI / 180), ky = 110574;
  let best = Infinity;
  for (let i = 1; i < line.length; i++) {
    const ax = (line[i - 1][0] - lon) * kx, ay = (line[i - 1][1] - lat) * ky, bx = (line[i][0] - lon) * kx, by = (line[i][1] - lat) * ky;
    const dx = bx - ax, dy = by - ay, L = dx * dx + dy * dy;
    const u = L ? Math.max(0, Math.min(1, -(ax * dx + ay * dy) / L)) : 0;
    best = Math.min(best, Math.hypot(ax + u * dx, ay + u * dy));
  }
  return best;
}

function drawTrack() {
  const lines = [], marks = [];
  for (const v of R.vs) {
    let seg = null;
    for (const p of v.pts) {
      const trip = v.trips.find((x) => !x.cancelled_at && Date.parse(x.starts_at) <= p.t && p.t < Date.parse(x.ends_at));
      const c = trip && ctx.corridors.get(trip.corridor_id);
      const off = !!c && distanceM(p.lon, p.lat, c.geometry.coordinates) > c.properties.buffer_m;
      if (!seg || seg.off !== off) {
        if (seg) seg.coords.push([p.lon, p.lat]);
        seg = { off, coords: seg ? [seg.coords[seg.coords.length - 1]] : [] };
        lines.push(seg);
      }
      seg.coords.push([p.lon, p.lat]);
    }
    for (const a of v.alarms) if (a.position) marks.push({ type: 'Feature', geometry: { type: 'Point', coordinates: [a.position.lon, a.position.lat] }, properties: { m: 'alarm' } });
    for (const s of stops(v.pts)) marks.push({ type: 'Feature', geometry: { type: 'Point', coordinates: [s.lon, s.lat] }, properties: { m: 'stop' } });
  }
  M.setReplay(lines.filter((s) => s.coords.length > 1).map((s) => ({ type: 'Feature', geometry: { type: 'LineString', coordinates: s.coords }, properties: { off: s.off } })), marks);
}

function stops(pts) {
  const out = [];
  let start = null;
  for (const p of pts) {
    if (p.v != null && p.v < STOP_KMH) { if (!start) start = p; continue; }
    if (start && p.t - start.t >= STOP_MIN_MS) out.push({ ...start, end: p.t });
    start = null;
  }
  if (start && pts.length && pts[pts.length - 1].t - start.t >= STOP_MIN_MS) out.push({ ...start, end: pts[pts.length - 1].t });
  return out;
}

function drawMarks() {
  const box = document.getElementById('rp-marks');
  const pct = (x) => (100 * Math.min(1, Math.max(0, (x - state.t0) / Math.max(1, state.t1 - state.t0)))).toFixed(2) + '%';
  let html = '';
  for (const v of R.vs) {
    for (const a of v.alarms) {
      const x = Math.max(state.t0, Date.parse(a.raised_at));
      html += `<span class="mk mk-alarm sev-${a.severity}" style="left:${pct(x)}" title="${t('kind.' + a.kind)} ${fmtDateTime(a.raised_at)}" data-t="${x}">▲</span>`;
    }
    for (const s of stops(v.pts)) html += `<span class="mk stop" style="left:${pct(s.t)};width:calc(${pct(s.end)} - ${pct(s.t)})" title="${fmtTime(s.t)}–${fmtTime(s.end)}" data-t="${s.t}"></span>`;
  }
  box.innerHTML = html;
  for (const m of box.querySelectorAll('.mk')) m.addEventListener('click', () => seek(+m.dataset.t));
}

function drawChart() {
  if (plot) { plot.destroy(); plot = null; }
  const times = [...new Set(R.vs.flatMap((v) => v.pts.map((p) => p.t)))].sort((a, b) => a - b);
  const idx = new Map(times.map((x, i) => [x, i]));
  const series = R.vs.map((v) => { const ys = new Array(times.length).fill(null); for (const p of v.pts) ys[idx.get(p.t)] = p.v; return ys; });
  const el = document.getElementById('rp-chart');
  const cursorLine = (u) => {
    const x = u.valToPos(state.simT / 1000, 'x', true);
    const g = u.ctx; g.save(); g.strokeStyle = '#ffffff'; g.lineWidth = 1.5; g.beginPath(); g.moveTo(x, u.bbox.top); g.lineTo(x, u.bbox.top + u.bbox.height); g.stroke(); g.restore();
  };
  plot = new uPlot({
    width: Math.max(300, el.clientWidth), height: Math.max(80, el.clientHeight - 4), legend: { show: false },
    scales: { x: { time: true }, y: { range: (u, lo, hi) => [0, Math.max(60, Math.ceil((hi || 0) * 1.1 / 10) * 10)] } },
    axes: [{ stroke: '#8fa3bf', grid: { stroke: '#1c2a40' }, values: (u, vals, ax, space, incr) => vals.map((v) => (incr < 60 ? fmtTime(v * 1000) : fmtTime(v * 1000).slice(0, 5))) },
      { stroke: '#8fa3bf', grid: { stroke: '#1c2a40' }, size: 40, label: t('replay.speed'), labelSize: 14 }],
    series: [{}, ...R.vs.map((v) => ({ label: v.id, stroke: v.color, width: 1.5, spanGaps: true, points: { show: false } }))],
    hooks: { draw: [cursorLine] },
    cursor: { drag: { x: false, y: false } },
  }, [times.map((x) => x / 1000), ...series], el);
  plot.over.addEventListener('click', (e) => { const r = plot.over.getBoundingClientRect(); seek(plot.posToVal(e.clientX - r.left, 'x') * 1000); });
}

function at(pts, tm) {
  if (!pts.length || tm < pts[0].t) return null;
  let lo = 0, hi = pts.length - 1;
  while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (pts[mid].t <= tm) lo = mid; else hi = mid - 1; }
  const a = pts[lo], b = pts[lo + 1];
  if (!b) return a;
  const f = (tm - a.t) / (b.t - a.t || 1);
  return { t: tm, lon: a.lon + (b.lon - a.lon) * f, lat: a.lat + (b.lat - a.lat) * f, v: a.v, h: a.h };
}

let lastDraw = 0;
// seek moves the replay clock to tm and redraws; while playing, the map and chart are redrawn at
// most 10 times a second (the clock itself stays exact: playback is proportional to real time).
function seek(tm, playing = false) {
  state.simT = Math.max(state.t0, Math.min(state.t1, tm));
  const now = performance.now();
  if (playing && now - lastDraw < 100 && state.simT < state.t1) return;
  lastDraw = now;
  const pos = [];
  for (const v of R.vs) { const p = at(v.pts, state.simT); if (p) pos.push({ type: 'Feature', geometry: { type: 'Point', coordinates: [p.lon, p.lat] }, properties: { id: v.id } }); }
  M.setReplayPositions(pos);
  if (state.follow && pos.length && state.playing) M.follow(...pos[0].geometry.coordinates);
  document.getElementById('rp-slider').value = Math.round(1000 * (state.simT - state.t0) / Math.max(1, state.t1 - state.t0));
  document.getElementById('rp-time').textContent = fmtDateTime(state.simT);
  if (plot) plot.redraw(false, false);
}

function frame(now) {
  if (!state.playing) return;
  seek(state.simT + (now - lastReal) * state.speed, true);
  lastReal = now;
  if (state.simT >= state.t1) { stop(); return; }
  raf = requestAnimationFrame(frame);
}
function play() {
  if (!R) return;
  if (state.simT >= state.t1) state.simT = state.t0;
  state.playing = true; lastReal = performance.now();
  document.getElementById('rp-play').textContent = t('replay.pause');
  raf = requestAnimationFrame(frame);
}
function stop() {
  state.playing = false; cancelAnimationFrame(raf);
  const b = document.getElementById('rp-play'); if (b) b.textContent = t('replay.play');
}
