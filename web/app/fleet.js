// fleet.js — the live vehicles on the map (re-exported by map.js).
//
// From zoom 10 on, every vehicle is drawn on the overlay canvas above the map (overlay.js): an
// update rewrites the vehicle's slot at once and the next animation frame redraws the overlay
// only — the MapLibre canvas does not repaint for vehicle moves. Below zoom 10 the overlay draws
// the fleet as clusters (a cluster takes the colour of its worst member), computed by supercluster
// in a Web Worker (cluster-worker.js): the worker's index is reloaded on a slow cadence (every
// CLUSTER_EVERY_MS, and at once when the view zooms out into it) and queried for the view after
// each reload and each view change. No vehicle data repaints MapLibre at any zoom. A vehicle with
// a critical alarm is never clustered: the overlay draws it, at every zoom, on top of the rest.
import { VehicleOverlay, HIDDEN, lngLatToMercator, fleetRadius } from './overlay.js';

// RANK orders statuses by how much they need attention: a cluster shows its worst member.
export const RANK = { no_trip: 0, on_route: 1, stale: 2, offline: 3, off_route: 4 };
export const CLUSTER_MAX_ZOOM = 9; // clusters up to zoom 9.x; vehicles one by one from zoom 10
const CLUSTER_EVERY_MS = 3000; // reload of the cluster worker's index for a large fleet
const SMALL_FLEET = 2000; // up to this many vehicles the clusters follow every second
const CLUSTER_RADIUS = 40; // px (of a 512-px tile) within which points merge, as MapLibre's clusterRadius

const cfg = window.CORRIDOR_CONFIG || {};
const offlineMs = (cfg.offline_after_s || 300) * 1000;

let map = null, layer = null, clickCb = () => {};
const V = new Map();   // vehicle id → {n, st, u, t, crit, stale, src, mx, my, h, f}
const critIDs = new Set(); // vehicles drawn by the critical pass
const free = [];       // slots of vehicles that left
let nextN = 0;
let carrierFilter = null, selected = null;
let frameScheduled = false, critDirty = false, fleetDirty = false, selMoved = false;
let clusterDirty = false, lastCluster = -Infinity;
let worker = null, loading = false, querySeq = 0, shownSeq = 0, lastQuery = null, reqSeq = 0;
const replies = new Map(); // worker request number → resolve
const bySlot = [];         // slot → vehicle (for the vehicles no cluster took)
export const stats = { updated: 0, flushes: 0, lastFlushMs: 0, maxFlushMs: 0, clusterUpdates: 0, maxClusterMs: 0, repaintCostMs: 0, layer: null };

// createOverlay makes the overlay canvas over a loaded map; colours by status code (RANK order,
// then critical).
export function createOverlay(m, colors) {
  layer = new VehicleOverlay(m, colors);
  stats.layer = layer.stats;
  return layer;
}

// attach wires the fleet to the map once its style is loaded: clicks and the pointer cursor
// (nearest vehicle within a few pixels, searched on the CPU), and the cluster refresh.
export function attach(m, onClick) {
  map = m; clickCb = onClick;
  const clusterZoom = () => map.getZoom() < CLUSTER_MAX_ZOOM + 1;
  const showFleet = () => {
    const show = !clusterZoom();
    if (show === layer.showFleet) return;
    layer.showFleet = show; // the zoom's own repaint redraws the overlay
    if (!show && clusterDirty) pushClusters(); // zoomed out into the clusters: bring them up to date
  };
  map.on('zoom', showFleet);
  layer.showFleet = !clusterZoom();
  worker = new Worker('/web/app/cluster-worker.js');
  worker.onmessage = onWorker;
  worker.onerror = (e) => { console.warn('cluster worker', e.message); loading = false; };
  setInterval(() => {
    if (clusterDirty && clusterZoom() && performance.now() - lastCluster >= (V.size > SMALL_FLEET ? CLUSTER_EVERY_MS : 1000)) pushClusters();
  }, 250);
  // A view change asks the worker for the clusters of the new view (the overlay keeps drawing the
  // last ones, in place, meanwhile).
  map.on('move', () => { if (clusterZoom() && !covers(lastQuery)) queryClusters(); });
  map.on('moveend', () => { if (clusterZoom()) queryClusters(); });
  map.on('click', async (e) => {
    const vid = pick(e.point);
    if (vid) { clickCb(vid); return; }
    const c = pickCluster(e.point);
    if (!c || c.count < 2) return; // a vehicle no cluster took is pick()'s
    // null: the index was reloaded since the clusters were drawn (ids renumbered): zoom in by two.
    const z = (await ask({ type: 'expand', id: c.id })) ?? map.getZoom() + 2;
    map.easeTo({ center: map.unproject([c.x, c.y]), zoom: Math.min(Math.max(z, CLUSTER_MAX_ZOOM + 1), 12) });
  });
  let hover = null;
  map.on('mousemove', (e) => {
    if (hover) return; // at most one search per frame
    hover = requestAnimationFrame(() => {
      hover = null;
      const on = pick(e.point) || pickCluster(e.point);
      map.getCanvas().style.cursor = on ? 'pointer' : '';
    });
  });
  redraw();
}

// pick returns the id of the vehicle drawn nearest to a screen point, within its circle and a few
// pixels around it; critical vehicles (drawn on top) first.
export function pick(pt, slack = 4) {
  if (!map) return null;
  const ll = map.unproject(pt), [mx, my] = lngLatToMercator(ll.lng, ll.lat);
  const z = map.getZoom(), world = 512 * 2 ** z;
  let best = null, bd = Infinity;
  const near = (v, r) => {
    const dx = (v.mx - mx) * world, dy = (v.my - my) * world, d = dx * dx + dy * dy;
    if (d <= r * r && d < bd) { bd = d; best = v; }
  };
  for (const id of critIDs) near(V.get(id), 8 + slack);
  if (!best && layer.showFleet) {
    const r = fleetRadius(z) + 1.2 + slack;
    for (const v of V.values()) if (v.src === 'veh') near(v, r);
  }
  if (!best && !layer.showFleet) { // a vehicle no cluster took
    const c = pickCluster(pt, slack);
    if (c && c.count === 1) best = bySlot[c.id] || null;
  }
  return best && best.st.vehicle_id;
}

// pickCluster returns the cluster (or unclustered vehicle) drawn under a screen point, from the
// overlay's clusters: {x, y, r, count, id, ...}, or null.
export function pickCluster(pt, slack = 4) {
  if (!layer || layer.showFleet) return null;
  let best = null, bd = Infinity;
  for (const c of layer.clusters()) {
    const d = Math.hypot(c.x - pt.x, c.y - pt.y);
    if (d <= c.r + slack && d < bd) { bd = d; best = c; }
  }
  return best;
}

// clusterLeaves resolves to the vehicle ids in a cluster (its id from overlay().clusters()).
export async function clusterLeaves(id) {
  const slots = await ask({ type: 'leaves', id });
  return (slots || []).map((n) => bySlot[n] && bySlot[n].st.vehicle_id);
}

function statusOf(v) { return v.stale && v.st.status !== 'offline' ? 'stale' : v.st.status; }
function visible(v) { return !carrierFilter || v.st.carrier_id === carrierFilter; }

// place writes a vehicle's state into the overlay and marks what else has to follow.
function place(v) {
  const st = v.st, id = st.vehicle_id;
  const target = visible(v) ? (v.crit ? 'vcrit' : 'veh') : null;
  if (v.src === 'vcrit' || target === 'vcrit') critDirty = true;
  if (v.src === 'veh' || target === 'veh') { clusterDirty = true; if (layer && layer.showFleet) fleetDirty = true; }
  if (target === 'vcrit') critIDs.add(id); else critIDs.delete(id);
  v.src = target;
  const m = lngLatToMercator(st.lon, st.lat);
  v.mx = m[0]; v.my = m[1];
  v.h = st.heading_deg != null && st.speed_kmh > 1 ? st.heading_deg : -1;
  if (layer) layer.set(v.n, v.mx, v.my, v.h, target === 'veh' ? (RANK[statusOf(v)] ?? 0) : HIDDEN);
  if (id === selected) selMoved = true;
  // Zoomed out, the fleet pass is not drawn: a move there waits for the cluster refresh.
  if (fleetDirty || critDirty || selMoved) schedule();
}

function entry(st) {
  let v = V.get(st.vehicle_id);
  if (!v) {
    v = { n: free.length ? free.pop() : nextN++, st, u: Date.parse(st.updated_at), t: Date.parse(st.ts), crit: false, stale: false, src: null };
    V.set(st.vehicle_id, v); bySlot[v.n] = v;
  }
  return v;
}

// upsert records a vehicle's new state; the map shows it at the next animation frame.
export function upsert(st) {
  const v = entry(st);
  const u = Date.parse(st.updated_at);
  if (v.st !== st && u < v.u) return;
  v.st = st; v.u = u; v.t = Date.parse(st.ts);
  v.stale = Date.now() - v.t > offlineMs;
  stats.updated++;
  place(v);
}

// replaceAll replaces every vehicle (snapshot after (re)connect).
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
  for (const [id, v] of V) {
    if (keep.has(id)) continue;
    V.delete(id); critIDs.delete(id); free.push(v.n); bySlot[v.n] = null;
    if (layer) layer.set(v.n, 0, 0, -1, HIDDEN);
    critDirty = clusterDirty = true;
  }
  redraw();
}

function redraw() { for (const v of V.values()) place(v); if (map) pushClusters(); }

export function overlay() { return layer; }
export function vehicle(id) { const v = V.get(id); return v && v.st; }
export function vehicles() { return V; }

// setCritical marks the vehicles with an unresolved critical alarm: never clustered, drawn red.
export function setCritical(ids) {
  for (const [id, v] of V) {
    const c = ids.has(id);
    if (c !== v.crit) { v.crit = c; place(v); }
  }
}

export function setCarrierFilter(c) { carrierFilter = c; redraw(); }

// sweepStale re-marks vehicles whose last fix crossed the offline threshold (once a second).
export function sweepStale(now = Date.now()) {
  for (const v of V.values()) {
    const s = now - v.t > offlineMs;
    if (s !== v.stale) { v.stale = s; place(v); }
  }
}
export function isStale(st) { return Date.now() - Date.parse(st.ts) > offlineMs; }

// select puts the selection ring (drawn by the overlay) around a vehicle, or removes it (null).
export function select(id) { selected = id; selMoved = true; schedule(); }
function placeSelection() { const v = selected && V.get(selected); if (layer) layer.setSelected(v ? [v.mx, v.my] : null); }

// The overlay redraws that updates cause are spaced: at least 200 ms apart above SMALL_FLEET
// vehicles (each vehicle reports about once a second: five redraws a second show every move), and
// at least three times what a redraw costs here (measured: the frame after a redraw), at most
// 1 s, so that on a slow machine the page keeps two thirds of its time for input and the stream.
// setMinRepaintInterval fixes the spacing instead.
let minRepaintMs = 0, lastRepaint = -Infinity, repaintCost = 0;
export function setMinRepaintInterval(ms) { minRepaintMs = ms; }
function repaintInterval() {
  if (minRepaintMs) return minRepaintMs;
  return Math.min(1000, Math.max(V.size > SMALL_FLEET ? 200 : 0, 3 * repaintCost));
}
function measureRepaint() {
  requestAnimationFrame((a) => requestAnimationFrame((b) => {
    repaintCost = 0.7 * repaintCost + 0.3 * (b - a);
    stats.repaintCostMs = repaintCost;
  }));
}

function schedule() {
  if (frameScheduled) return;
  frameScheduled = true;
  requestAnimationFrame(frame);
}

// frame runs at most once per animation frame with changes: the critical list is rebuilt (a few
// vehicles), the selection ring follows its vehicle, and the overlay redraws; the MapLibre canvas
// does not repaint.
function frame(now) {
  frameScheduled = false;
  if (!map || !layer) return;
  const wait = repaintInterval() - (now - lastRepaint);
  if (wait > 0) { frameScheduled = true; setTimeout(() => requestAnimationFrame(frame), wait); return; }
  lastRepaint = now;
  const t0 = performance.now();
  if (critDirty) {
    critDirty = false;
    const list = [];
    for (const id of critIDs) { const v = V.get(id); list.push([v.mx, v.my, v.h]); }
    layer.setCritical(list);
  }
  if (selMoved) { selMoved = false; placeSelection(); }
  fleetDirty = false;
  layer.update();
  measureRepaint();
  const dt = performance.now() - t0;
  stats.flushes++; stats.lastFlushMs = dt; stats.maxFlushMs = Math.max(stats.maxFlushMs, dt);
}

// pushClusters sends the non-critical visible vehicles to the cluster worker (typed arrays,
// transferred: the main thread only fills them), which indexes them and then answers a query for
// the current view. One load at a time: changes meanwhile wait for the next cadence.
function pushClusters() {
  if (!worker || loading) return;
  const t0 = performance.now();
  let k = 0;
  for (const v of V.values()) if (v.src === 'veh') k++;
  const lon = new Float64Array(k), lat = new Float64Array(k), rank = new Uint8Array(k), slot = new Uint32Array(k);
  k = 0;
  for (const v of V.values()) {
    if (v.src !== 'veh') continue;
    lon[k] = v.st.lon; lat[k] = v.st.lat; rank[k] = RANK[statusOf(v)] ?? 0; slot[k] = v.n; k++;
  }
  loading = true;
  worker.postMessage({ type: 'load', lon, lat, rank, slot, maxZoom: CLUSTER_MAX_ZOOM, radius: CLUSTER_RADIUS },
    [lon.buffer, lat.buffer, rank.buffer, slot.buffer]);
  queryClusters();
  clusterDirty = false; lastCluster = performance.now();
  const dt = lastCluster - t0;
  stats.clusterUpdates++; stats.maxClusterMs = Math.max(stats.maxClusterMs, dt);
}

// queryClusters asks the worker for the clusters of the current view (its bounds padded by half a
// screen on each side, so that a pan shows clusters at once while the next answer comes).
function queryClusters() {
  if (!worker || !map) return;
  const b = map.getBounds(), dx = (b.getEast() - b.getWest()) / 2, dy = (b.getNorth() - b.getSouth()) / 2;
  const bbox = [Math.max(-180, b.getWest() - dx), Math.max(-85, b.getSouth() - dy), Math.min(180, b.getEast() + dx), Math.min(85, b.getNorth() + dy)];
  const zoom = map.getZoom();
  lastQuery = { bbox, z: Math.floor(zoom) };
  worker.postMessage({ type: 'query', seq: ++querySeq, bbox, zoom });
}

// covers tells whether a query's clusters are still the right ones for the current view.
function covers(q) {
  if (!q || Math.floor(map.getZoom()) !== q.z) return false;
  const b = map.getBounds();
  return b.getWest() >= q.bbox[0] && b.getSouth() >= q.bbox[1] && b.getEast() <= q.bbox[2] && b.getNorth() <= q.bbox[3];
}

// ask sends a request to the worker and resolves to its answer.
function ask(msg) {
  if (!worker) return Promise.resolve(null);
  const req = ++reqSeq;
  return new Promise((resolve) => { replies.set(req, resolve); worker.postMessage({ ...msg, req }); });
}

function onWorker(e) {
  const m = e.data;
  if (m.type === 'loaded') { loading = false; stats.clusterLoadMs = m.ms; stats.clusterPoints = m.points; return; }
  if (m.type === 'clusters') {
    if (m.seq <= shownSeq) return; // an older answer than the one shown
    shownSeq = m.seq;
    layer.setClusters(m);
    stats.clusters = m.count.length;
    if (!layer.showFleet) layer.draw();
    return;
  }
  if (m.type === 'error') { console.warn('cluster worker', m.message); if (m.req == null) loading = false; }
  const r = replies.get(m.req);
  if (r) { replies.delete(m.req); r(m.type === 'expanded' ? m.zoom : m.type === 'leaves' ? m.slots : null); }
}
