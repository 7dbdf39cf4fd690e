// overlay.js — the live vehicles on a 2D canvas above the MapLibre canvas.
//
// A vehicle update redraws only this canvas: the MapLibre (WebGL) canvas repaints only when the
// view moves or its own layers change. With a software compositor (headless Chromium, SwiftShader)
// every WebGL repaint is read back and costs ~100 ms at 1920×1080 whatever it draws; a 2D canvas
// is rasterised on the CPU with no read-back.
//
// Every vehicle owns a slot: Web Mercator x, y (float64), heading in degrees (-1: none) and a
// status code (index into the colour table; HIDDEN: not drawn). A draw projects the slots with the
// view's affine transform (pitch is disabled on this screen, so Mercator → screen is a rotation,
// a scale and a shift, taken from three points MapLibre unprojects), copies one pre-rendered
// sprite per vehicle (status × heading bucket), then draws the critical vehicles (halo, white
// outline) and the selection ring on top as paths. Below zoom 10 the fleet pass is off and the
// clusters (computed by cluster-worker.js, set with setClusters) are drawn instead: a circle in
// the colour of the worst member with its count as text (a local canvas font: no glyph server). A redraw after updates that would take longer
// than CHUNK_MS is drawn in slices on a second, hidden canvas and swapped in when complete. The
// canvases are devicePixelRatio-aware and sized with the map container.

export const HIDDEN = 15; // status code of a slot that is not drawn (filtered out, critical, gone)
const NOSE = 6; // px the heading mark reaches beyond the circle
const BUCKETS = 36; // heading marks of the fleet: one sprite per 10°
const CHUNK_MS = 24; // longest slice of an overlay redraw after updates (ms)
const OUTLINE = '#0b1220', HEAD = '#e8edf7', HALO = 'rgba(255,59,78,0.25)';
const COUNT_FONT = '700 11px system-ui, "Noto Sans", "WenQuanYi Micro Hei", sans-serif';
const SINGLE_R = 4.5; // radius of a vehicle no cluster took (CSS px)

// clusterRadius is a cluster's circle radius by its count: 10 px at 2, 18 at 100, 34 at 10,000.
export function clusterRadius(count) {
  if (count <= 100) return 10 + 8 * (Math.max(2, count) - 2) / 98;
  return 18 + 16 * Math.min(1, (count - 100) / 9900);
}
// countLabel abbreviates a count as MapLibre's point_count_abbreviated does (1.2k, 15k).
export function countLabel(n) {
  if (n >= 10000) return Math.round(n / 1000) + 'k';
  if (n >= 1000) return Math.round(n / 100) / 10 + 'k';
  return String(n);
}

// lngLatToMercator gives MapLibre's Mercator coordinates ([0,0] top left, [1,1] bottom right).
export function lngLatToMercator(lon, lat) {
  const s = Math.sin(lat * Math.PI / 180);
  return [(lon + 180) / 360, 0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)];
}

// fleetRadius is the circle radius of an ordinary vehicle at a zoom: 4.5 px at 8, 9 px at 14.
export function fleetRadius(zoom) { return 4.5 + 4.5 * Math.min(1, Math.max(0, (zoom - 8) / 6)); }

export class VehicleOverlay {
  // colors: the six fill colours by status code (0 no_trip, 1 on_route, 2 stale, 3 offline,
  // 4 off_route, 5 critical).
  constructor(map, colors) {
    this.map = map; this.colors = colors;
    this.cap = 1024; this.n = 0;
    this.mx = new Float64Array(this.cap); this.my = new Float64Array(this.cap);
    this.head = new Float32Array(this.cap); this.code = new Uint8Array(this.cap).fill(HIDDEN);
    this.crit = []; this.sel = null; // [mx, my, heading] each; sel: [mx, my]
    this.showFleet = true; this.fleetHeads = true;
    this.cl = null; // clusters: {mx, my, count, worst, id} (cluster-worker.js), drawn while !showFleet
    this.job = null; this.pending = false; this.back = null; this.cost = 0; this.drawn = 0;
    this.stats = { draws: 0, drawn: 0, lastMs: 0, maxMs: 0 };
    const c = this.canvas = document.createElement('canvas');
    c.className = 'vehicle-overlay';
    c.style.cssText = 'position:absolute;left:0;top:0;pointer-events:none;';
    // In the canvas container right after the map canvas: under the markers (place labels) and
    // the controls.
    const mc = map.getCanvas();
    mc.parentNode.insertBefore(c, mc.nextSibling);
    this.g = c.getContext('2d');
    this.resize();
    map.on('resize', () => { this.resize(); this.draw(); });
    // 'render' follows every MapLibre repaint: when the view moved, redraw in the same task, so
    // that both canvases show the same view (a repaint of the map's own layers changes nothing
    // here).
    map.on('render', () => { if (!this.drawnFor(this.view())) this.draw(); });
  }

  // drawnFor tells whether the visible overlay (or the redraw in progress) is for view T.
  drawnFor(T) {
    const L = this.job ? this.job.T : this.last;
    return !!L && L.a === T.a && L.b === T.b && L.c === T.c && L.d === T.d && L.e === T.e && L.f === T.f && L.w === T.w && L.h === T.h && L.dpr === T.dpr;
  }

  resize() {
    const el = this.map.getContainer(), dpr = window.devicePixelRatio || 1;
    const w = el.clientWidth, h = el.clientHeight;
    this.w = w; this.h = h; this.dpr = dpr;
    for (const c of [this.canvas, this.back]) {
      if (!c) continue;
      c.width = Math.max(1, Math.round(w * dpr)); c.height = Math.max(1, Math.round(h * dpr));
      c.style.width = w + 'px'; c.style.height = h + 'px';
    }
  }

  // set writes slot i: Mercator x, y, heading (-1 none) and status code (HIDDEN: not drawn).
  set(i, mx, my, heading, code) {
    if (i >= this.cap) this.grow(i + 1);
    this.mx[i] = mx; this.my[i] = my; this.head[i] = heading; this.code[i] = code;
    if (i >= this.n) this.n = i + 1;
  }
  grow(min) {
    let cap = this.cap;
    while (cap < min) cap *= 2;
    const up = (A, fill) => { const a = new A.constructor(cap); if (fill != null) a.fill(fill); a.set(A); return a; };
    this.mx = up(this.mx); this.my = up(this.my); this.head = up(this.head); this.code = up(this.code, HIDDEN);
    this.cap = cap;
  }
  // setCritical replaces the critical vehicles: a list of [mx, my, heading].
  setCritical(list) { this.crit = list; }
  setSelected(p) { this.sel = p; }
  // setClusters replaces the clusters (and the vehicles no cluster took) drawn below zoom 10.
  setClusters(cl) { this.cl = cl; }
  // clusters lists the clusters drawn now (for the browser test): screen position (CSS px),
  // radius, count and its label, worst rank, and cluster id (the vehicle's slot when count is 1).
  clusters() {
    const cl = this.cl;
    if (!cl || this.showFleet) return [];
    const { a, b, c, d, e, f } = this.view(), out = [];
    for (let i = 0; i < cl.count.length; i++) {
      const n = cl.count[i], x = a * cl.mx[i] + c * cl.my[i] + e, y = b * cl.mx[i] + d * cl.my[i] + f;
      out.push({ x, y, r: n > 1 ? clusterRadius(n) : SINGLE_R, count: n, label: n > 1 ? countLabel(n) : null, worst: cl.worst[i], id: cl.id[i] });
    }
    return out;
  }

  // transform returns [a, b, c, d, e, f]: screen x = a·mx + c·my + e, y = b·mx + d·my + f (CSS px).
  transform() {
    const m = this.map, w = this.w || 1, h = this.h || 1;
    const p0 = m.unproject([0, 0]), p1 = m.unproject([w, 0]), p2 = m.unproject([0, h]);
    const [x0, y0] = lngLatToMercator(p0.lng, p0.lat), [x1, y1] = lngLatToMercator(p1.lng, p1.lat), [x2, y2] = lngLatToMercator(p2.lng, p2.lat);
    // Solve [u v] = M·(m - m0) for screen (w,0) at m1 and (0,h) at m2.
    const ux = x1 - x0, uy = y1 - y0, vx = x2 - x0, vy = y2 - y0, det = ux * vy - vx * uy;
    const a = w * vy / det, c = -w * vx / det, b = -h * uy / det, d = h * ux / det;
    return [a, b, c, d, -(a * x0 + c * y0), -(b * x0 + d * y0)];
  }

  // sprites returns the sprite set for a circle radius (CSS px, quantised to 1/4 px) with or
  // without heading marks: get(code, bucket) is a canvas of 2·half device pixels with the vehicle
  // at its centre; bucket BUCKETS is "no heading mark". Sprites are made on first use.
  sprites(r, heads) {
    const q = Math.round(r * 4) / 4, key = q + (heads ? 'h' : '') + '@' + this.dpr;
    if (this.sp && this.sp.key === key) return this.sp;
    const dpr = this.dpr, edge = q + 1.2, half = Math.ceil((edge + (heads ? NOSE : 0) + 1) * dpr);
    const cache = new Map(), colors = this.colors;
    const get = (code, bucket) => {
      const id = code * (BUCKETS + 1) + bucket;
      let c = cache.get(id);
      if (c) return c;
      c = document.createElement('canvas'); c.width = c.height = 2 * half;
      const g = c.getContext('2d');
      g.setTransform(dpr, 0, 0, dpr, half, half);
      if (bucket < BUCKETS) { g.beginPath(); headPath(g, 0, 0, bucket * 360 / BUCKETS, 0, edge); g.fillStyle = HEAD; g.fill(); }
      g.beginPath(); g.arc(0, 0, q + 0.6, 0, 2 * Math.PI);
      g.fillStyle = colors[code]; g.fill(); g.lineWidth = 1.2; g.strokeStyle = OUTLINE; g.stroke();
      cache.set(id, c);
      return c;
    };
    this.sp = { key, half, get };
    return this.sp;
  }

  // draw redraws the whole overlay now, on the visible canvas, for the current view (view moves,
  // resizes; a small fleet's updates). It cancels a chunked redraw in progress.
  draw() {
    const t0 = performance.now();
    this.job = null; this.pending = false;
    const T = this.last = this.view();
    const fleet = this.begin(this.g, T);
    if (fleet) this.fleetRange(this.g, T, fleet, 0, Infinity);
    this.finish(this.g, T);
    const dt = performance.now() - t0;
    this.cost = dt;
    this.done(dt);
  }

  // update redraws the overlay after vehicle updates (at most once per animation frame, from
  // fleet.js). When a whole redraw costs more than CHUNK_MS, it is drawn on the hidden second
  // canvas in slices of at most CHUNK_MS, one per animation frame, and shown whole when complete
  // (no frame shows half a fleet); updates that arrive meanwhile start one more redraw after it.
  update() {
    if (!(this.cost > CHUNK_MS) || !this.showFleet) { this.draw(); return; }
    if (this.job) { this.pending = true; return; }
    if (!this.back) {
      this.back = this.canvas.cloneNode();
      this.back.style.visibility = 'hidden';
      this.canvas.parentNode.insertBefore(this.back, this.canvas.nextSibling);
    }
    const g = this.back.getContext('2d'), T = this.view();
    const job = this.job = { g, T, fleet: this.begin(g, T), i: 0, ms: 0 };
    const step = () => {
      if (this.job !== job) return; // cancelled by a whole redraw
      const t0 = performance.now();
      if (job.fleet) job.i = this.fleetRange(g, T, job.fleet, job.i, t0 + CHUNK_MS);
      if (!job.fleet || job.i >= this.n) {
        this.finish(g, T);
        // Swap: the finished canvas becomes the visible one.
        const front = this.canvas;
        this.canvas = this.back; this.back = front; this.g = g;
        this.canvas.style.visibility = ''; this.back.style.visibility = 'hidden';
        this.job = null; this.last = T;
        job.ms += performance.now() - t0;
        this.cost = job.ms;
        this.done(job.ms);
        if (this.pending) { this.pending = false; this.update(); }
        return;
      }
      job.ms += performance.now() - t0;
      requestAnimationFrame(step);
    };
    step();
  }

  // view returns the projection of the current view and what it draws.
  view() {
    const [a, b, c, d, e, f] = this.transform(), zoom = this.map.getZoom();
    return { a, b, c, d, e, f, zoom, rot: Math.atan2(b, a), w: this.w, h: this.h, dpr: this.dpr }; // rot: screen angle of Mercator +x
  }

  // begin clears a canvas and returns what the fleet pass needs (null: no fleet pass).
  begin(g, T) {
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.clearRect(0, 0, g.canvas.width, g.canvas.height);
    this.drawn = 0;
    if (!T.w || !T.h || !this.showFleet || !this.n) return null;
    const r = fleetRadius(T.zoom), heads = this.fleetHeads && T.zoom >= 11;
    return { heads, pad: r + 1.2 + (heads ? NOSE + 2 : 0), sp: this.sprites(r, heads) };
  }

  // fleetRange draws the ordinary vehicles from slot i on (one pre-rendered sprite per status and
  // heading bucket, at whole device pixels: a 2D canvas rasterises 10,000 anti-aliased arcs far
  // slower than it copies 10,000 sprites) until the deadline; it returns the next slot.
  fleetRange(g, T, F, i, deadline) {
    const { a, b, c, d, e, f, w, h, dpr, rot } = T, { heads, pad, sp } = F, half = sp.half;
    const code = this.code, MX = this.mx, MY = this.my, H = this.head, n = this.n;
    g.setTransform(1, 0, 0, 1, 0, 0);
    for (; i < n; i++) {
      if ((i & 255) === 0 && performance.now() > deadline) break;
      const k = code[i];
      if (k >= HIDDEN) continue;
      const x = a * MX[i] + c * MY[i] + e, y = b * MX[i] + d * MY[i] + f;
      if (x < -pad || y < -pad || x > w + pad || y > h + pad) continue;
      let bucket = BUCKETS;
      if (heads && H[i] >= 0) {
        bucket = Math.round(((H[i] * Math.PI / 180 + rot) / (2 * Math.PI)) * BUCKETS) % BUCKETS;
        if (bucket < 0) bucket += BUCKETS;
      }
      g.drawImage(sp.get(k, bucket), Math.round(x * dpr) - half, Math.round(y * dpr) - half);
      this.drawn++;
    }
    return i;
  }

  // finish draws the critical vehicles (halo, heading mark, white outline) and the selection ring
  // on top.
  finish(g, T) {
    const { a, b, c, d, e, f, dpr, rot } = T;
    if (!T.w || !T.h) return;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    if (!this.showFleet && this.cl) this.drawClusters(g, T);
    if (this.crit.length) {
      const pts = this.crit.map(([mx, my, hd]) => [a * mx + c * my + e, b * mx + d * my + f, hd]);
      g.beginPath();
      for (const [x, y] of pts) { g.moveTo(x + 13, y); g.arc(x, y, 13, 0, 2 * Math.PI); }
      g.fillStyle = HALO; g.fill();
      if (T.zoom >= 9) {
        g.beginPath();
        for (const [x, y, hd] of pts) if (hd >= 0) headPath(g, x, y, hd, rot, 8);
        g.fillStyle = HEAD; g.fill();
      }
      g.beginPath();
      for (const [x, y] of pts) { g.moveTo(x + 7.25, y); g.arc(x, y, 7.25, 0, 2 * Math.PI); }
      g.fillStyle = this.colors[5]; g.lineWidth = 1.5; g.strokeStyle = '#ffffff'; g.fill(); g.stroke();
      this.drawn += pts.length;
    }
    if (this.sel) {
      const [mx, my] = this.sel;
      g.beginPath(); g.arc(a * mx + c * my + e, b * mx + d * my + f, 15, 0, 2 * Math.PI);
      g.lineWidth = 2; g.strokeStyle = '#ffffff'; g.stroke();
    }
  }

  // drawClusters draws the vehicles no cluster took (sprites, as the fleet pass), then the
  // clusters with their counts, smallest first so that a large cluster is on top.
  drawClusters(g, T) {
    const { a, b, c, d, e, f, w, h, dpr } = T, cl = this.cl, n = cl.count.length;
    const sp = this.sprites(SINGLE_R, false), half = sp.half, big = [];
    g.setTransform(1, 0, 0, 1, 0, 0);
    for (let i = 0; i < n; i++) {
      const x = a * cl.mx[i] + c * cl.my[i] + e, y = b * cl.mx[i] + d * cl.my[i] + f;
      if (cl.count[i] > 1) { if (x > -40 && y > -40 && x < w + 40 && y < h + 40) big.push([x, y, cl.count[i], cl.worst[i]]); continue; }
      if (x < -8 || y < -8 || x > w + 8 || y > h + 8) continue;
      g.drawImage(sp.get(cl.worst[i], BUCKETS), Math.round(x * dpr) - half, Math.round(y * dpr) - half);
      this.drawn++;
    }
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    big.sort((p, q) => p[2] - q[2]);
    g.lineWidth = 2; g.strokeStyle = OUTLINE;
    for (const [x, y, k, r] of big) {
      g.beginPath(); g.arc(x, y, clusterRadius(k), 0, 2 * Math.PI);
      g.globalAlpha = 0.85; g.fillStyle = this.colors[r] || this.colors[0]; g.fill();
      g.globalAlpha = 1; g.stroke();
    }
    g.font = COUNT_FONT; g.textAlign = 'center'; g.textBaseline = 'middle'; g.lineJoin = 'round';
    g.lineWidth = 3; g.strokeStyle = 'rgba(11,18,32,0.9)'; g.fillStyle = '#ffffff';
    for (const [x, y, k] of big) { const t = countLabel(k); g.strokeText(t, x, y + 0.5); g.fillText(t, x, y + 0.5); }
    this.drawn += big.length;
  }

  done(ms) {
    const s = this.stats;
    s.draws++; s.drawn = this.drawn; s.lastMs = ms; s.maxMs = Math.max(s.maxMs, ms);
  }
}

// headPath adds a triangle pointing where the vehicle heads (degrees clockwise from north), from
// just inside the circle's edge to NOSE px beyond it; rot is the screen angle of east.
function headPath(g, x, y, deg, rot, edge) {
  const t = deg * Math.PI / 180 + rot, dx = Math.sin(t), dy = -Math.cos(t);
  const tip = edge + NOSE, base = edge - 1, half = (tip - base) * 0.7;
  g.moveTo(x + dx * tip, y + dy * tip);
  g.lineTo(x + dx * base - dy * half, y + dy * base + dx * half);
  g.lineTo(x + dx * base + dy * half, y + dy * base - dx * half);
  g.closePath();
}
