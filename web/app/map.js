// map.js — the MapLibre map: offline base map (optionally raster tiles or a PMTiles archive under
// it), corridors with their buffers, zones (shaded while in force), the live vehicles (fleet.js:
// a 2D overlay canvas above the map: one by one from zoom 10, clusters below it; a vehicle with a
// critical alarm is never clustered; no vehicle data repaints the MapLibre canvas), the fix of a
// selected alarm, and the replay layers.
import * as maplibregl from '/web/vendor/maplibre-gl/maplibre-gl.mjs';
import * as F from './fleet.js';

export { upsert, replaceAll, vehicle, vehicles, setCritical, setCarrierFilter, sweepStale, isStale, select, stats, pick, setMinRepaintInterval, overlay, pickCluster, clusterLeaves } from './fleet.js';

export const COLORS = {
  on_route: '#2fd27a', off_route: '#ff9f1a', no_trip: '#5aa9e6', offline: '#8a94a6', stale: '#5d6675',
  critical: '#ff3b4e', corridor: '#35c2ff', restricted: '#ff3b4e', terminal: '#b388ff', parking: '#7bd88f',
};
// Fill colours by rank (fleet.RANK: no_trip, on_route, stale, offline, off_route), then critical.
const BY_RANK = [COLORS.no_trip, COLORS.on_route, COLORS.stale, COLORS.offline, COLORS.off_route, COLORS.critical];

const cfg = window.CORRIDOR_CONFIG || {};
const CENTER = [107.0, 29.78];

let map, clickCb = () => {};

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
    { id: 'afix', type: 'circle', source: 'afix', paint: { 'circle-radius': 11, 'circle-color': 'rgba(255,59,78,0.15)', 'circle-stroke-color': '#ff3b4e', 'circle-stroke-width': 2.5 } },
    { id: 'rp-pos', type: 'circle', source: 'rppos', paint: { 'circle-radius': 7, 'circle-color': '#f5d547', 'circle-stroke-color': '#000', 'circle-stroke-width': 2 } },
  );
  map = new maplibregl.Map({
    container, style: { version: 8, sources, layers }, center: CENTER, zoom: 10.2,
    attributionControl: false, fadeDuration: 0, maxPitch: 0, dragRotate: false,
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-left');
  map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-left');
  const ready = new Promise((resolve) => map.on('load', resolve));
  ready.then(() => {
    F.createOverlay(map, BY_RANK);
    F.attach(map, clickCb);
    addPlaceLabels();
    if (cfg.basemap_pmtiles) addPMTiles(cfg.basemap_pmtiles).catch((e) => console.warn('PMTiles base map', e));
  });
  return ready;
}

// addPMTiles draws a PMTiles archive (CORRIDOR_BASEMAP_URL) under the bundled base map, through
// the pmtiles protocol (vendored, loaded only here): raster archives as a dimmed raster layer,
// vector archives as faint fills and lines of every layer they list (the screen has no glyphs,
// so no labels).
export const basemap = { pmtiles: null, tileType: null, layers: [] };
async function addPMTiles(url) {
  if (!window.pmtiles) {
    await new Promise((resolve, reject) => {
      const el = document.createElement('script');
      el.src = '/web/vendor/pmtiles/pmtiles.js'; el.onload = resolve; el.onerror = () => reject(new Error('pmtiles.js'));
      document.head.appendChild(el);
    });
  }
  const abs = new URL(url, location.href).href;
  const protocol = new window.pmtiles.Protocol();
  maplibregl.addProtocol('pmtiles', protocol.tile);
  const archive = new window.pmtiles.PMTiles(abs);
  protocol.add(archive);
  const h = await archive.getHeader();
  const before = 'base-district';
  const src = 'pmtiles://' + abs;
  basemap.pmtiles = abs; basemap.tileType = h.tileType;
  if (h.tileType === 1) { // MVT
    const md = await archive.getMetadata().catch(() => ({}));
    map.addSource('pm', { type: 'vector', url: src });
    for (const l of (md && md.vector_layers) || []) {
      const add = (layer) => { map.addLayer(layer, before); basemap.layers.push(layer.id); };
      add({ id: `pm-${l.id}-fill`, type: 'fill', source: 'pm', 'source-layer': l.id, filter: ['==', ['geometry-type'], 'Polygon'],
        paint: { 'fill-color': /water|ocean|lake|river/i.test(l.id) ? '#123a5c' : '#16233a', 'fill-opacity': 0.5 } });
      add({ id: `pm-${l.id}-line`, type: 'line', source: 'pm', 'source-layer': l.id, filter: ['==', ['geometry-type'], 'LineString'],
        paint: { 'line-color': /water|river/i.test(l.id) ? '#1b4f7a' : '#3d4656', 'line-width': 1 } });
    }
  } else {
    map.addSource('pm', { type: 'raster', url: src, tileSize: 256 });
    map.addLayer({ id: 'pm-raster', type: 'raster', source: 'pm', paint: { 'raster-opacity': 0.55, 'raster-saturation': -0.6 } }, before);
    basemap.layers.push('pm-raster');
  }
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

// ---- alarm fix, fly ----
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
