// cluster-worker.js — the fleet's clusters (below zoom 10), computed off the main thread with
// supercluster (the library MapLibre's own GeoJSON clustering uses), so that indexing 100,000
// vehicles never blocks the page. A classic worker: the vendored UMD build defines Supercluster.
//
// Messages in (all answered in order):
//   {type: 'load', lon, lat: Float64Array, rank: Uint8Array, slot: Uint32Array, maxZoom, radius}
//     → {type: 'loaded', points, ms}
//   {type: 'query', seq, bbox: [w, s, e, n], zoom}
//     → {type: 'clusters', seq, zoom, mx, my: Float64Array (Web Mercator), count: Uint32Array
//        (1: a single vehicle), worst: Uint8Array (highest rank), id: Float64Array (cluster id, or
//        the vehicle's slot when count is 1)}
//   {type: 'expand', req, id} → {type: 'expanded', req, zoom}
//   {type: 'leaves', req, id} → {type: 'leaves', req, slots: number[]}
/* global Supercluster */
importScripts('/web/vendor/supercluster/supercluster.js');

let index = null;

function mercator(lon, lat) {
  const s = Math.sin(lat * Math.PI / 180);
  return [(lon + 180) / 360, 0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)];
}

function load(m) {
  const t0 = performance.now();
  const n = m.lon.length, features = new Array(n);
  for (let i = 0; i < n; i++) {
    features[i] = { type: 'Feature', geometry: { type: 'Point', coordinates: [m.lon[i], m.lat[i]] }, properties: { r: m.rank[i], n: m.slot[i] } };
  }
  // A cluster's worst member: the highest rank of its points (map/reduce properties).
  index = new Supercluster({
    maxZoom: m.maxZoom, radius: m.radius,
    map: (p) => ({ worst: p.r }),
    reduce: (acc, p) => { if (p.worst > acc.worst) acc.worst = p.worst; },
  }).load(features);
  postMessage({ type: 'loaded', points: n, ms: performance.now() - t0 });
}

function query(m) {
  const fs = index ? index.getClusters(m.bbox, m.zoom) : [];
  const n = fs.length;
  const mx = new Float64Array(n), my = new Float64Array(n), count = new Uint32Array(n), worst = new Uint8Array(n), id = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const f = fs[i], p = f.properties, [x, y] = mercator(f.geometry.coordinates[0], f.geometry.coordinates[1]);
    mx[i] = x; my[i] = y;
    if (p.cluster) { count[i] = p.point_count; worst[i] = p.worst; id[i] = p.cluster_id; } else { count[i] = 1; worst[i] = p.r; id[i] = p.n; }
  }
  postMessage({ type: 'clusters', seq: m.seq, zoom: m.zoom, mx, my, count, worst, id }, [mx.buffer, my.buffer, count.buffer, worst.buffer, id.buffer]);
}

onmessage = (e) => {
  const m = e.data;
  try {
    if (m.type === 'load') load(m);
    else if (m.type === 'query') query(m);
    else if (m.type === 'expand') postMessage({ type: 'expanded', req: m.req, zoom: index ? index.getClusterExpansionZoom(m.id) : null });
    else if (m.type === 'leaves') postMessage({ type: 'leaves', req: m.req, slots: index ? index.getLeaves(m.id, Infinity).map((f) => f.properties.n) : [] });
  } catch (err) {
    postMessage({ type: 'error', req: m.req, seq: m.seq, message: String(err && err.message || err) });
  }
};
