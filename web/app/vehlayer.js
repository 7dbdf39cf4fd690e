// vehlayer.js — the live vehicles as a MapLibre custom WebGL layer (CustomLayerInterface).
//
// Every vehicle owns a slot in one vertex buffer: its position in Web Mercator units (relative to a
// fixed origin, so that float32 keeps sub-pixel precision at any zoom), its heading and a status
// code. An update rewrites the vehicle's slot in a Float32Array; the next frame uploads only the
// changed slots (bufferSubData over runs of dirty slots) and draws the fleet with one gl.POINTS
// call. The circle, its outline and the heading mark are drawn by the fragment shader from
// gl_PointCoord. Vehicles with a critical alarm are drawn by a second, small buffer after the
// fleet, so they are always on top.

const STRIDE = 4; // floats per slot: x, y, heading in degrees (-1: none), status code
export const HIDDEN = 15; // status code of a slot that is not drawn (filtered out, critical, gone)
export const CRITICAL = 5; // status code of the critical pass (index into the colour table)
const NOSE = 6; // px the heading mark reaches beyond the circle

// The colour and heading are worked out per vertex (flat varyings); the fragment shader only
// measures the distance to the centre. Software WebGL (SwiftShader) pays for every fragment.
const VS = `#version 300 es
uniform mat4 u_matrix;
uniform float u_size;      // point size in CSS px
uniform float u_dpr;
uniform float u_bearing;   // radians
uniform float u_head;      // 1: draw heading marks
uniform vec3 u_colors[6];
in vec4 a_v;
flat out vec4 v_fill;
flat out vec2 v_dir;
flat out float v_hashead;
void main() {
  int code = int(a_v.w + 0.5);
  if (code >= ${HIDDEN}) { gl_Position = vec4(2.0, 2.0, 2.0, 1.0); gl_PointSize = 0.0; return; }
  gl_Position = u_matrix * vec4(a_v.xy, 0.0, 1.0);
  gl_PointSize = u_size * u_dpr;
  v_fill = vec4(u_colors[code], 1.0);
  float h = radians(a_v.z) - u_bearing;
  v_dir = vec2(sin(h), -cos(h)); // gl_PointCoord's y points down
  v_hashead = (a_v.z >= 0.0 && u_head > 0.5) ? 1.0 : 0.0;
}`;

const FS = `#version 300 es
precision highp float;
uniform float u_size;
uniform float u_r;         // circle radius, CSS px
uniform float u_stroke;    // outline width, CSS px
uniform vec4 u_strokeColor;
uniform float u_halo;      // halo radius (0: none)
uniform vec4 u_haloColor;  // premultiplied
uniform vec4 u_headColor;
uniform float u_simple;    // 1: circles only (no heading marks, no halo in this pass)
flat in vec4 v_fill;
flat in vec2 v_dir;
flat in float v_hashead;
out vec4 fragColor;
vec4 over(vec4 top, vec4 under) { return top + under * (1.0 - top.a); }
void main() {
  vec2 p = (gl_PointCoord - 0.5) * u_size;
  float d = length(p);
  float edge = u_r + u_stroke;
  float outer = clamp(edge - d + 0.5, 0.0, 1.0);
  if (u_simple > 0.5) {
    if (outer <= 0.0) discard;
    fragColor = mix(u_strokeColor, v_fill, clamp(u_r - d + 0.5, 0.0, 1.0)) * outer;
    return;
  }
  vec4 c = vec4(0.0);
  if (u_halo > 0.0) c = u_haloColor * clamp(u_halo - d + 0.5, 0.0, 1.0);
  if (v_hashead > 0.5 && d > edge - 1.0) {
    // A triangle pointing where the vehicle heads, just beyond the circle.
    float a = dot(p, v_dir), b = abs(dot(p, vec2(-v_dir.y, v_dir.x)));
    float tip = edge + ${NOSE}.0;
    if (a > 0.0 && a < tip && b < (tip - a) * 0.7) c = over(u_headColor, c);
  }
  if (outer > 0.0) c = over(mix(u_strokeColor, v_fill, clamp(u_r - d + 0.5, 0.0, 1.0)) * outer, c);
  if (c.a <= 0.0) discard;
  fragColor = c;
}`;

function rgb(hex) { const n = parseInt(hex.slice(1), 16); return [(n >> 16 & 255) / 255, (n >> 8 & 255) / 255, (n & 255) / 255]; }

// lngLatToMercator gives MapLibre's Mercator coordinates ([0,0] top left, [1,1] bottom right).
export function lngLatToMercator(lon, lat) {
  const s = Math.sin(lat * Math.PI / 180);
  return [(lon + 180) / 360, 0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)];
}

export class VehicleLayer {
  // colors: the six fill colours by status code (0 no_trip, 1 on_route, 2 stale, 3 offline,
  // 4 off_route, 5 critical); origin: [lon, lat] near the fleet.
  constructor(id, colors, origin) {
    this.id = id; this.type = 'custom'; this.renderingMode = '2d';
    this.colors = new Float32Array(colors.flatMap(rgb));
    [this.ox, this.oy] = lngLatToMercator(origin[0], origin[1]);
    this.cap = 1024; this.n = 0;
    this.data = new Float32Array(this.cap * STRIDE).fill(HIDDEN);
    this.mark = new Uint8Array(this.cap); this.dirty = []; this.grown = true;
    this.crit = new Float32Array(0); this.critN = 0; this.critDirty = false;
    this.showFleet = true; this.fleetHeads = true;
    this.stats = { uploads: 0, slots: 0, calls: 0, lastMs: 0, maxMs: 0 };
  }

  // set writes slot i: Mercator x, y, heading (-1 none) and status code (HIDDEN: not drawn).
  set(i, mx, my, heading, code) {
    if (i >= this.cap) this.grow(i + 1);
    const o = i * STRIDE, d = this.data;
    d[o] = mx - this.ox; d[o + 1] = my - this.oy; d[o + 2] = heading; d[o + 3] = code;
    if (i >= this.n) this.n = i + 1;
    if (!this.mark[i]) { this.mark[i] = 1; this.dirty.push(i); }
  }
  grow(min) {
    let cap = this.cap;
    while (cap < min) cap *= 2;
    const d = new Float32Array(cap * STRIDE).fill(HIDDEN), m = new Uint8Array(cap);
    d.set(this.data); m.set(this.mark);
    this.data = d; this.mark = m; this.cap = cap; this.grown = true;
  }
  // setCritical replaces the critical pass: a list of [mx, my, heading].
  setCritical(list) {
    const a = new Float32Array(Math.max(1, list.length) * STRIDE);
    list.forEach(([x, y, h], i) => { a.set([x - this.ox, y - this.oy, h, CRITICAL], i * STRIDE); });
    this.crit = a; this.critN = list.length; this.critDirty = true;
  }
  pendingSlots() { return this.dirty.length; }

  onAdd(map, gl) {
    this.map = map; this.gl = gl;
    const sh = (type, src) => {
      const s = gl.createShader(type);
      gl.shaderSource(s, src); gl.compileShader(s);
      if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error('vehicle layer shader: ' + gl.getShaderInfoLog(s));
      return s;
    };
    const p = this.prog = gl.createProgram();
    gl.attachShader(p, sh(gl.VERTEX_SHADER, VS)); gl.attachShader(p, sh(gl.FRAGMENT_SHADER, FS));
    gl.bindAttribLocation(p, 0, 'a_v');
    gl.linkProgram(p);
    if (!gl.getProgramParameter(p, gl.LINK_STATUS)) throw new Error('vehicle layer program: ' + gl.getProgramInfoLog(p));
    this.u = {};
    for (const n of ['u_matrix', 'u_size', 'u_dpr', 'u_bearing', 'u_head', 'u_colors', 'u_r', 'u_stroke', 'u_strokeColor', 'u_halo', 'u_haloColor', 'u_headColor', 'u_simple']) this.u[n] = gl.getUniformLocation(p, n);
    const vao = () => {
      const v = gl.createVertexArray(), b = gl.createBuffer();
      gl.bindVertexArray(v); gl.bindBuffer(gl.ARRAY_BUFFER, b);
      gl.enableVertexAttribArray(0); gl.vertexAttribPointer(0, 4, gl.FLOAT, false, STRIDE * 4, 0);
      gl.bindVertexArray(null);
      return { vao: v, buf: b };
    };
    this.fleet = vao(); this.critical = vao();
    this.maxPoint = gl.getParameter(gl.ALIASED_POINT_SIZE_RANGE)[1];
    this.grown = true; this.critDirty = true;
  }
  onRemove(map, gl) {
    for (const x of [this.fleet, this.critical]) { gl.deleteBuffer(x.buf); gl.deleteVertexArray(x.vao); }
    gl.deleteProgram(this.prog);
  }

  // upload sends the changed slots to the GPU: the whole buffer after it grew, else one
  // bufferSubData per run of dirty slots (runs closer than 32 slots are joined; beyond 256 runs,
  // one range from the first to the last).
  upload(gl) {
    const t0 = performance.now();
    gl.bindBuffer(gl.ARRAY_BUFFER, this.fleet.buf);
    let calls = 0;
    const slots = this.dirty.length;
    if (this.grown) {
      gl.bufferData(gl.ARRAY_BUFFER, this.data, gl.DYNAMIC_DRAW); calls = 1; this.grown = false;
    } else if (slots) {
      const ds = this.dirty.sort((a, b) => a - b);
      const runs = [];
      let lo = ds[0], hi = ds[0];
      for (let k = 1; k < ds.length; k++) {
        if (ds[k] - hi > 32) { runs.push(lo, hi); lo = ds[k]; }
        hi = ds[k];
      }
      runs.push(lo, hi);
      if (runs.length > 512) runs.splice(0, runs.length, ds[0], ds[ds.length - 1]);
      for (let k = 0; k < runs.length; k += 2) {
        gl.bufferSubData(gl.ARRAY_BUFFER, runs[k] * STRIDE * 4, this.data, runs[k] * STRIDE, (runs[k + 1] - runs[k] + 1) * STRIDE);
      }
      calls = runs.length / 2;
    }
    for (const i of this.dirty) this.mark[i] = 0;
    this.dirty.length = 0;
    if (this.critDirty) {
      gl.bindBuffer(gl.ARRAY_BUFFER, this.critical.buf);
      gl.bufferData(gl.ARRAY_BUFFER, this.crit, gl.DYNAMIC_DRAW);
      this.critDirty = false; calls++;
    }
    if (calls) {
      const s = this.stats, dt = performance.now() - t0;
      s.uploads++; s.slots += slots; s.calls += calls; s.lastMs = dt; s.maxMs = Math.max(s.maxMs, dt);
    }
  }

  render(gl, args) {
    if (this.grown || this.dirty.length || this.critDirty) this.upload(gl);
    // The camera matrix for Mercator units (mainMatrix, float64) moved to the origin in double
    // precision, so that the vertices stay small.
    const m = args.defaultProjectionData.mainMatrix, t = new Float32Array(16);
    for (let k = 0; k < 12; k++) t[k] = m[k];
    for (let r = 0; r < 4; r++) t[12 + r] = m[r] * this.ox + m[4 + r] * this.oy + m[12 + r];
    const zoom = this.map.getZoom(), dpr = window.devicePixelRatio || 1;
    gl.useProgram(this.prog);
    gl.uniformMatrix4fv(this.u.u_matrix, false, t);
    gl.uniform1f(this.u.u_dpr, dpr);
    gl.uniform1f(this.u.u_bearing, this.map.getBearing() * Math.PI / 180);
    gl.uniform3fv(this.u.u_colors, this.colors);
    gl.uniform4f(this.u.u_headColor, 0.91, 0.93, 0.97, 1);
    const pass = (x, count, r, stroke, strokeColor, halo, head) => {
      if (!count) return;
      // As small as the drawing allows: with software WebGL, the fragments are the cost.
      const size = Math.min(2 * Math.ceil(Math.max(r + stroke + (head ? NOSE : 0), halo) + 0.5), this.maxPoint / dpr);
      gl.uniform1f(this.u.u_size, size); gl.uniform1f(this.u.u_r, r); gl.uniform1f(this.u.u_stroke, stroke);
      gl.uniform4fv(this.u.u_strokeColor, strokeColor); gl.uniform1f(this.u.u_halo, halo);
      gl.uniform4f(this.u.u_haloColor, 1.0 * 0.25, 0.23 * 0.25, 0.31 * 0.25, 0.25);
      gl.uniform1f(this.u.u_head, head ? 1 : 0);
      gl.uniform1f(this.u.u_simple, !head && !halo ? 1 : 0);
      gl.bindVertexArray(x.vao);
      gl.drawArrays(gl.POINTS, 0, count);
    };
    if (this.showFleet) pass(this.fleet, this.n, fleetRadius(zoom), 1.2, [0.043, 0.071, 0.125, 1], 0, this.fleetHeads && zoom >= 11);
    pass(this.critical, this.critN, 6.5, 1.5, [1, 1, 1, 1], 13, zoom >= 9);
    gl.bindVertexArray(null);
  }
}

// fleetRadius is the circle radius of an ordinary vehicle at a zoom: 4.5 px at 8, 9 px at 14.
export function fleetRadius(zoom) { return 4.5 + 4.5 * Math.min(1, Math.max(0, (zoom - 8) / 6)); }
