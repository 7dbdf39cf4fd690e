// map.js — the MapLibre map: offline base map, corridors with their buffers, zones (shaded while
// in force), live vehicles (clustered only at low zoom; a vehicle with a critical alarm is in its
// own never-clustered layer), the fix of a selected alarm, and the replay layers.
//
// Vehicle updates are batched: upsert() only records the vehicle; once per animation frame the
// changed vehicles go to the sources as a diff (GeoJSONSource.updateData), so a frame costs what
// changed, not the fleet.
import * as maplibregl from '/web/vendor/maplibre-gl/maplibre-gl.mjs';

export const COLORS = {
  on_route: '#2fd27a', off_route: '#ff9f1a', no_trip: '#5aa9e6', offline: '#8a94a6', stale: '#5d6675',
  critical: '#ff3b4e', corridor: '#35c2ff', restricted: '#ff3b4e', terminal: '#b388ff', parking: '#7bd88f',
};
// rank orders statuses by how much they need attention; a cluster shows its worst member.
const RANK = { no_trip: 0, on_route: 1, stale: 2, offline: 3, off_route: 4 };
const RANK_COLOR = ['step', ['get', 'worst'], COLORS.no_trip, 1, COLORS.on_route, 2, COLORS.stale, 3, COLORS.offline, 4, COLORS.off_route];
const STATUS_COLOR = ['match', ['get', 's'], 'on_route', COLORS.on_route, 'off_route', COLORS.off_route, 'no_trip', COLORS.no_trip, 'offline', COLORS.offline, COLORS.stale];

const cfg = window.CORRIDOR_CONFIG || {};
const offlineMs = (cfg.offline_after_s || 300) * 1000;

let map;
const V = new Map();          // vehicle id → {n, st, crit, stale, src}
let nextN = 1;
const pending = new Set();    // vehicle ids changed since the last flush
let carrierFilter = null;
let flushScheduled = false;
let clickCb = () => {};
export const stats = { flushes: 0, lastFlushMs: 0, maxFlushMs: 0, updated: 0 };

function arrowImage(color) {
  const s = 32, c = document.createElement('canvas');
  c.width = c.height = s;
  const g = c.getContext('2d');
  g.fillStyle = color; g.strokeStyle = 'rgba(0,0,0,.6)'; g.lineWidth = 1.5;
  g.beginPath(); g.moveTo(16, 1); g.lineTo(23, 13); g.lineTo(9, 13); g.closePath(); g.fill(); g.stroke();
  return g.getImageData(0, 0, s, s);
}

// bufferWidth is a line-width expression drawing buffer_m on each side at any zoom (Web Mercator,
// 512-px tiles, at the region's latitude).
function bufferWidth(lat) {
  const mpp = (z) => 78271.517 * Math.cos(lat * Math.PI / 180) / 2 ** z;
  return ['interpolate', ['exponential', 2], ['zoom'], 6, ['*', ['get', 'buffer_m'], 2 / mpp(6)], 22, ['*', ['get', 'buffer_m'], 2 / mpp(22)]];
}

export function initMap(container, onVehicleClick) {
  clickCb = onVehicleClick;
  const sources = {
    base: { type: 'geojson', data: '/web/basemap/changshou.geojson' },
    corr: { type: 'geojson', data: { type: 'FeatureCollection', features: [] } },
    zones: { type: 'geojson', data: { type: 'FeatureCollection', features: [] } },
    veh: { type: 'geojson', data: fc([]), cluster: true, clusterMaxZoom: 9, clusterRadius: 40,
      clusterProperties: { worst: ['max', ['get', 'r']] } },
    vcrit: { type: 'geojson', data: fc([]) },
    sel: { type: 'geojson', data: fc([]) },
    afix: { type: 'geojson', data: fc([]) },
    rpline: { type: 'geojson', data: fc([]) },
    rpmarks: { type: 'geojson', data: fc([]) },
    rppos: { type: 'geojson', data: fc([]) },
  };
  const layers = [{ id: 'bg', type: 'background', paint: { 'background-color': '#0b1220' } }];
  if (cfg.basemap_url) {
    sources.tiles = { type: 'raster', tiles: [cfg.basemap_url], tileSize: 256 };
    layers.push({ id: 'tiles', type: 'raster', source: 'tiles', paint: { 'raster-opacity': 0.55, 'raster-saturation': -0.6 } });
  }
  layers.push(
    { id: 'base-district', type: 'fill', source: 'base', filter: ['==', ['get', 'layer'], 'district'], paint: { 'fill-color': '#101b2e', 'fill-outline-color': '#2a3a55' } },
    { id: 'base-district-line', type: 'line', source: 'base', filter: ['==', ['get', 'layer'], 'district'], paint: { 'line-color': '#3a4d6d', 'line-width': 1.2, 'line-dasharray': [3, 2] } },
    { id: 'base-lake', type: 'fill', source: 'base', filter: ['==', ['get', 'layer'], 'lake'], paint: { 'fill-color': '#123a5c' } },
    { id: 'base-river', type: 'line', source: 'base', filter: ['==', ['get', 'layer'], 'river'],
      paint: { 'line-color': '#1b4f7a', 'line-width': ['interpolate', ['exponential', 1.6], ['zoom'], 7, ['*', ['get', 'w'], 1.5], 14, ['*', ['get', 'w'], 10]] },
      layout: { 'line-cap': 'round', 'line-join': 'round' } },
    { id: 'base-road', type: 'line', source: 'base', filter: ['==', ['get', 'layer'], 'road'],
      paint: { 'line-color': ['match', ['get', 'class'], 'expressway', '#6b5a3a', '#4a4f5c'], 'line-width': ['interpolate', ['linear'], ['zoom'], 7, 1, 14, 4] },
      layout: { 'line-cap': 'round', 'line-join': 'round' } },
    { id: 'zone-fill', type: 'fill', source: 'zones', paint: {
      'fill-color': ['match', ['get', 'kind'], 'restricted', COLORS.restricted, 'terminal', COLORS.terminal, COLORS.parking],
      'fill-opacity': ['case', ['get', 'on'], ['match', ['get', 'kind'], 'restricted', 0.28, 0.18], 0.04] } },
    { id: 'zone-line', type: 'line', source: 'zones', paint: {
      'line-color': ['match', ['get', 'kind'], 'restricted', COLORS.restricted, 'terminal', COLORS.terminal, COLORS.parking],
      'line-width': 1.2, 'line-opacity': ['case', ['get', 'on'], 0.9, 0.45], 'line-dasharray': [2, 1.5] } },
    { id: 'corr-buffer', type: 'line', source: 'corr', paint: { 'line-color': COLORS.corridor, 'line-opacity': 0.16, 'line-width': bufferWidth(29.8) },
      layout: { 'line-cap': 'round', 'line-join': 'round' } },
    { id: 'corr-line', type: 'line', source: 'corr', paint: { 'line-color': COLORS.corridor, 'line-width': 1.6, 'line-opacity': 0.85 } },
    { id: 'rp-line', type: 'line', source: 'rpline', paint: { 'line-color': ['case', ['get', 'off'], '#ff3b4e', '#f5d547'], 'line-width': 3 },
      layout: { 'line-cap': 'round', 'line-join': 'round' } },
    { id: 'rp-marks', type: 'circle', source: 'rpmarks', paint: { 'circle-radius': 6, 'circle-color': ['match', ['get', 'm'], 'alarm', '#ff3b4e', '#ffffff'],
      'circle-stroke-color': '#000', 'circle-stroke-width': 1 } },
    { id: 'clusters', type: 'circle', source: 'veh', filter: ['has', 'point_count'], paint: {
      'circle-color': RANK_COLOR, 'circle-opacity': 0.85, 'circle-stroke-color': '#0b1220', 'circle-stroke-width': 2,
      'circle-radius': ['interpolate', ['linear'], ['get', 'point_count'], 2, 10, 100, 18, 10000, 34] } },
    { id: 'veh-pt', type: 'circle', source: 'veh', filter: ['!', ['has', 'point_count']], paint: {
      'circle-color': STATUS_COLOR, 'circle-radius': ['interpolate', ['linear'], ['zoom'], 8, 4.5, 14, 9],
      'circle-stroke-color': '#0b1220', 'circle-stroke-width': 1.2 } },
    { id: 'veh-head', type: 'symbol', source: 'veh', filter: ['all', ['!', ['has', 'point_count']], ['has', 'h']], minzoom: 11,
      layout: { 'icon-image': 'arrow', 'icon-size': 0.5, 'icon-rotate': ['get', 'h'], 'icon-rotation-alignment': 'map', 'icon-allow-overlap': true, 'icon-ignore-placement': true, 'icon-offset': [0, -22] } },
    { id: 'sel', type: 'circle', source: 'sel', paint: { 'circle-radius': 14, 'circle-color': 'rgba(0,0,0,0)', 'circle-stroke-color': '#ffffff', 'circle-stroke-width': 2 } },
    { id: 'vcrit-halo', type: 'circle', source: 'vcrit', paint: { 'circle-radius': 13, 'circle-color': COLORS.critical, 'circle-opacity': 0.25 } },
    { id: 'vcrit-pt', type: 'circle', source: 'vcrit', paint: { 'circle-color': COLORS.critical, 'circle-radius': 6.5, 'circle-stroke-color': '#fff', 'circle-stroke-width': 1.5 } },
    { id: 'vcrit-head', type: 'symbol', source: 'vcrit', filter: ['has', 'h'], minzoom: 9,
      layout: { 'icon-image': 'arrow-crit', 'icon-size': 0.55, 'icon-rotate': ['get', 'h'], 'icon-rotation-alignment': 'map', 'icon-allow-overlap': true, 'icon-ignore-placement': true, 'icon-offset': [0, -22] } },
    { id: 'afix', type: 'circle', source: 'afix', paint: { 'circle-radius': 11, 'circle-color': 'rgba(255,59,78,0.15)', 'circle-stroke-color': '#ff3b4e', 'circle-stroke-width': 2.5 } },
    { id: 'rp-pos', type: 'circle', source: 'rppos', paint: { 'circle-radius': 7, 'circle-color': '#f5d547', 'circle-stroke-color': '#000', 'circle-stroke-width': 2 } },
  );
  map = new maplibregl.Map({
    container, style: { version: 8, sources, layers }, center: [107.0, 29.78], zoom: 10.2,
    attributionControl: false, fadeDuration: 0, maxPitch: 0, dragRotate: false,
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-left');
  map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-left');
  map.on('styleimagemissing', () => {});
  const ready = new Promise((resolve) => map.on('load', resolve));
  ready.then(() => {
    map.addImage('arrow', arrowImage('#e8eef7'));
    map.addImage('arrow-crit', arrowImage('#ffffff'));
    for (const id of ['veh-pt', 'vcrit-pt']) {
      map.on('click', id, (e) => { const f = e.features && e.features[0]; if (f) clickCb(f.properties.vid); });
      map.on('mouseenter', id, () => { map.getCanvas().style.cursor = 'pointer'; });
      map.on('mouseleave', id, () => { map.getCanvas().style.cursor = ''; });
    }
    map.on('click', 'clusters', async (e) => {
      const f = e.features[0];
      const z = await map.getSource('veh').getClusterExpansionZoom(f.properties.cluster_id);
      map.easeTo({ center: f.geometry.coordinates, zoom: Math.min(z, 12) });
    });
    addPlaceLabels();
  });
  return ready;
}

async function addPlaceLabels() {
  // A few place names as HTML markers: MapLibre text needs glyphs, which the offline screen lacks.
  try {
    const fcBase = await (await fetch('/web/basemap/changshou.geojson')).json();
    for (const f of fcBase.features) {
      if (f.properties.layer !== 'place') continue;
      const el = document.createElement('div');
      el.className = 'place-label ' + (f.properties.rank === 1 ? 'major' : '');
      el.dataset.en = f.properties.name_en; el.dataset.zh = f.properties.name_zh;
      el.textContent = document.documentElement.lang.startsWith('zh') ? f.properties.name_zh : f.properties.name_en;
      new maplibregl.Marker({ element: el, anchor: 'center' }).setLngLat(f.geometry.coordinates).addTo(map);
    }
  } catch (e) { console.warn('place labels', e); }
}
export function relabel(lang) {
  for (const el of document.querySelectorAll('.place-label')) el.textContent = lang === 'zh' ? el.dataset.zh : el.dataset.en;
}

const fc = (features) => ({ type: 'FeatureCollection', features });

export function setCorridors(features) {
  map.getSource('corr').setData(fc(features));
}
export function fitCorridors(features) {
  const b = new maplibregl.LngLatBounds();
  for (const f of features) for (const c of f.geometry.coordinates) b.extend(c);
  if (!b.isEmpty()) map.fitBounds(b, { padding: 40, duration: 0, maxZoom: 12 });
}
export function setZones(features) { map.getSource('zones').setData(fc(features)); }

// ---- live vehicles ----
function feature(v) {
  const st = v.st;
  const p = { vid: st.vehicle_id, c: st.carrier_id, s: v.stale && st.status !== 'offline' ? 'stale' : st.status };
  p.r = RANK[p.s] ?? 0;
  if (st.heading_deg != null && st.speed_kmh > 1) p.h = st.heading_deg;
  return { type: 'Feature', id: v.n, geometry: { type: 'Point', coordinates: [st.lon, st.lat] }, properties: p };
}

function entry(st) {
  let v = V.get(st.vehicle_id);
  if (!v) { v = { n: nextN++, st, u: Date.parse(st.updated_at), t: Date.parse(st.ts), crit: false, stale: false, src: null }; V.set(st.vehicle_id, v); }
  return v;
}

// upsert records a vehicle's new state; the map shows it at the next animation frame.
export function upsert(st) {
  const v = entry(st);
  const u = Date.parse(st.updated_at);
  if (v.st !== st && u < v.u) return;
  v.st = st; v.u = u; v.t = Date.parse(st.ts);
  v.stale = Date.now() - v.t > offlineMs;
  pending.add(st.vehicle_id);
  schedule();
}

// replaceAll replaces every vehicle (snapshot after (re)connect) and redraws the sources whole.
export function replaceAll(states) {
  const keep = new Set();
  for (const st of states) {
    const v = entry(st);
    // A stream event may have brought a newer state while the snapshot was on its way.
    const u = Date.parse(st.updated_at);
    if (v.st === st || u >= v.u) { v.st = st; v.u = u; v.t = Date.parse(st.ts); }
    v.stale = Date.now() - v.t > offlineMs;
    keep.add(st.vehicle_id);
  }
  for (const id of V.keys()) if (!keep.has(id)) V.delete(id);
  pending.clear();
  redraw();
}

export function vehicle(id) { const v = V.get(id); return v && v.st; }
export function vehicles() { return V; }

// setCritical marks the vehicles with an unresolved critical alarm: never clustered, drawn red.
export function setCritical(ids) {
  for (const [id, v] of V) {
    const c = ids.has(id);
    if (c !== v.crit) { v.crit = c; pending.add(id); }
  }
  schedule();
}

export function setCarrierFilter(c) { carrierFilter = c; redraw(); }

function visible(v) { return !carrierFilter || v.st.carrier_id === carrierFilter; }

function redraw() {
  const a = [], b = [];
  for (const v of V.values()) {
    v.src = null;
    if (!visible(v)) continue;
    v.src = v.crit ? 'vcrit' : 'veh';
    (v.crit ? b : a).push(feature(v));
  }
  if (!map || !map.getSource('veh')) return;
  map.getSource('veh').setData(fc(a));
  map.getSource('vcrit').setData(fc(b));
  updateSelection();
}

// minFlushMs spaces the flushes: every flush makes MapLibre re-tile the vehicle sources in its
// worker and upload the changed tiles, whatever the number of changed vehicles, so with a large
// fleet a few flushes a second show every move (each vehicle reports about once a second) at a
// fraction of the cost of one per frame.
let minFlushMs = 0, lastFlush = 0;
const MAX_PER_FLUSH = 20000;
export function setMinFlushInterval(ms) { minFlushMs = ms; }
function autoInterval() { return minFlushMs || (V.size > 2000 ? 400 : 0); }

function schedule() {
  if (flushScheduled) return;
  flushScheduled = true;
  requestAnimationFrame(flush);
}

function flush(now) {
  flushScheduled = false;
  if (!pending.size || !map || !map.getSource('veh')) return;
  const wait = autoInterval() - (now - lastFlush);
  if (wait > 0) { flushScheduled = true; setTimeout(() => requestAnimationFrame(flush), wait); return; }
  lastFlush = now;
  const t0 = performance.now();
  const diff = { veh: { add: [], remove: [] }, vcrit: { add: [], remove: [] } };
  // At most MAX_PER_FLUSH vehicles per flush, so that one flush never becomes a long task; the
  // rest stay pending for the next one.
  let k = 0, selMoved = false;
  for (const id of pending) {
    if (k++ >= MAX_PER_FLUSH) break;
    pending.delete(id);
    if (id === selected) selMoved = true;
    const v = V.get(id);
    if (!v) continue;
    const target = visible(v) ? (v.crit ? 'vcrit' : 'veh') : null;
    if (v.src && v.src !== target) diff[v.src].remove.push(v.n);
    if (target) diff[target].add.push(feature(v));
    v.src = target;
  }
  stats.updated += Math.min(k, MAX_PER_FLUSH);
  if (pending.size) schedule();
  for (const s of ['veh', 'vcrit']) {
    if (diff[s].add.length || diff[s].remove.length) map.getSource(s).updateData(diff[s]);
  }
  if (selMoved) updateSelection();
  const dt = performance.now() - t0;
  stats.flushes++; stats.lastFlushMs = dt; stats.maxFlushMs = Math.max(stats.maxFlushMs, dt);
}

// sweepStale re-marks vehicles whose last fix crossed the offline threshold (once a second).
export function sweepStale(now = Date.now()) {
  for (const [id, v] of V) {
    const s = now - v.t > offlineMs;
    if (s !== v.stale) { v.stale = s; pending.add(id); }
  }
  if (pending.size) schedule();
}
export function isStale(st) { return Date.now() - Date.parse(st.ts) > offlineMs; }

// ---- selection, alarm fix, fly ----
let selected = null;
export function select(id) { selected = id; updateSelection(); }
function updateSelection() {
  const v = selected && V.get(selected);
  map.getSource('sel').setData(fc(v ? [{ type: 'Feature', geometry: { type: 'Point', coordinates: [v.st.lon, v.st.lat] }, properties: {} }] : []));
}
export function flyTo(lon, lat, zoom = 13.5) { map.flyTo({ center: [lon, lat], zoom: Math.max(map.getZoom(), zoom), duration: 900 }); }
export function showAlarmFix(a) {
  map.getSource('afix').setData(fc(a && a.position ? [{ type: 'Feature', geometry: { type: 'Point', coordinates: [a.position.lon, a.position.lat] }, properties: {} }] : []));
}

// ---- replay ----
export function setReplay(lines, marks) {
  map.getSource('rpline').setData(fc(lines));
  map.getSource('rpmarks').setData(fc(marks));
}
export function setReplayPositions(points) { map.getSource('rppos').setData(fc(points)); }
export function follow(lon, lat) { map.easeTo({ center: [lon, lat], duration: 0 }); }
export function fitTo(coords) {
  const b = new maplibregl.LngLatBounds();
  for (const c of coords) b.extend(c);
  if (!b.isEmpty()) map.fitBounds(b, { padding: 60, duration: 500, maxZoom: 14 });
}
export function getMap() { return map; }
