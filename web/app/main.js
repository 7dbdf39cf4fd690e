// main.js — the monitoring screen: sign-in, the data it loads, the live stream and its resync,
// the KPI strip, the carrier list, and the test/benchmark hooks (window.__corridor).
import { api, alarmsAll, token, setToken, APIError } from './api.js';
import { t, getLang, setLang, onLang, fmtTime, fmtAgo, startOfToday, localParts } from './i18n.js';
import * as M from './map.js';
import * as A from './alarms.js';
import { showCard, refreshCard, closeCard } from './card.js';
import { initReplay, openReplay, state as replayState } from './replay.js';

const S = {
  me: null, carriers: new Map(), vehicles: new Map(), corridors: new Map(), zones: [], trips: new Map(),
  carrierFilter: null, selected: null, lastEvent: 0, streamState: 'connecting', kpiToday: { handled: 0, tta: null },
};
window.__corridor = { S, map: M, alarms: A, sound: A.sound, stats: M.stats, replay: replayState, dropStream, resync, connect: () => connect(), selectVehicle: (id) => selectVehicle(id) };

const canHandle = () => S.me && (S.me.role === 'admin' || S.me.role === 'safety');
const plate = (vid) => (S.vehicles.get(vid) || {}).plate || (M.vehicle(vid) || {}).plate || vid;
const carrierName = (cid) => (S.carriers.get(cid) || {}).name || cid;

// ---- sign-in ----
async function signIn(tok) {
  setToken(tok);
  try {
    S.me = await api('/v1/me');
    return true;
  } catch (e) {
    setToken('');
    document.getElementById('signin-error').textContent = e instanceof APIError && e.status === 401 ? t('signin.bad') : t('signin.unreachable');
    return false;
  }
}
function showSignIn() {
  document.getElementById('app').hidden = true;
  document.getElementById('signin').hidden = false;
  document.getElementById('token').focus();
}
window.addEventListener('corridor:unauthorized', () => { stopStream(); setToken(''); showSignIn(); });

async function start() {
  setLang(getLang());
  for (const b of document.querySelectorAll('.lang-toggle')) b.addEventListener('click', () => setLang(getLang() === 'zh' ? 'en' : 'zh'));
  document.getElementById('signin-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    A.unlockAudio(); // a user gesture: the alarm beep may play from now on
    if (await signIn(document.getElementById('token').value.trim())) boot();
  });
  document.getElementById('signout').addEventListener('click', () => { setToken(''); location.reload(); });
  if (token() && await signIn(token())) boot(); else showSignIn();
}

let booted = false;
async function boot() {
  document.getElementById('signin').hidden = true;
  document.getElementById('app').hidden = false;
  document.body.classList.toggle('can-handle', canHandle());
  document.getElementById('who').textContent = `${S.me.name} · ${S.me.role}${S.me.carrier_id ? ' · ' + S.me.carrier_id : ''}`;
  if (booted) return;
  booted = true;
  A.unlockAudio();
  A.initAlarms({ canHandle, plate, carrierName, carriers: () => [...S.carriers.values()], onSelect: selectAlarm, onChange: alarmsChanged });
  const ready = M.initMap(document.getElementById('map'), selectVehicle);
  initReplay({ plate, corridors: S.corridors, trips: tripsOf, selected: () => S.selected });
  document.getElementById('map-note').textContent = t('map.basemap');
  onLang((l) => { M.relabel(l); renderKPIs(); renderCarriers(); refreshCard(); document.getElementById('map-note').textContent = t('map.basemap'); renderLegend(); });
  renderLegend();
  closeCard();
  await Promise.all([ready, loadStatic()]);
  M.setCorridors([...S.corridors.values()]);
  M.fitCorridors([...S.corridors.values()]);
  updateZones();
  A.refreshCarrierFilter();
  renderCarriers(); // at once, not only at the next 5-second refresh
  connect();
  setInterval(() => { M.sweepStale(); renderStream(); renderClock(); }, 1000);
  setInterval(() => document.body.classList.toggle('blink'), 600); // flashing alarms, sounding, stream down
  setInterval(updateZones, 30000);
  // Corridors, zones, carriers and vehicles change rarely: re-read them every minute.
  setInterval(async () => { try { await loadStatic(); M.setCorridors([...S.corridors.values()]); updateZones(); A.refreshCarrierFilter(); renderCarriers(); } catch (e) { console.warn('reload', e); } }, 60000);
  setInterval(renderKPIs, 1000);
  setInterval(loadToday, 60000);
  setInterval(renderCarriers, 5000);
  loadToday();
}

async function loadStatic() {
  const [carriers, vehicles, corridors, zones] = await Promise.all([
    api('/v1/carriers'), api('/v1/vehicles'), api('/v1/corridors'), api('/v1/zones')]);
  for (const c of carriers) S.carriers.set(c.id, c);
  for (const v of vehicles) S.vehicles.set(v.id, v);
  for (const f of corridors.features) S.corridors.set(f.id, f);
  S.zones = zones.features;
}

// Zones are shaded while their active_hours apply, in CORRIDOR_TIMEZONE.
function updateZones() {
  const p = localParts(Date.now()), now = p.h * 60 + p.mi;
  const mins = (s) => { const [h, m] = s.split(':').map(Number); return h * 60 + m; };
  M.setZones(S.zones.map((z) => {
    const ah = z.properties.active_hours;
    let on = true;
    if (ah) { const f = mins(ah.from), to = mins(ah.to); on = f < to ? now >= f && now < to : now >= f || now < to; }
    return { ...z, properties: { ...z.properties, on } };
  }));
}

// ---- the live stream ----
let es = null, retryTimer = null, resyncing = null;
function connect() {
  stopStream();
  setStream('connecting');
  es = new EventSource('/v1/stream?topics=positions,alarms&access_token=' + encodeURIComponent(token()));
  es.onopen = () => { setStream('live'); resync(); };
  es.addEventListener('position', (e) => { S.lastEvent = Date.now(); M.upsert(JSON.parse(e.data)); });
  es.addEventListener('alarm', (e) => { S.lastEvent = Date.now(); onAlarm(JSON.parse(e.data)); });
  es.addEventListener('reset', () => { S.lastEvent = Date.now(); resync(); });
  es.onmessage = () => { S.lastEvent = Date.now(); };
  es.onerror = () => {
    if (!es) return;
    setStream('down');
    if (es.readyState === EventSource.CLOSED) {
      // The browser gave up (an HTTP error): check the token, then start over.
      clearTimeout(retryTimer);
      retryTimer = setTimeout(async () => { try { await api('/v1/me'); connect(); } catch { retryTimer = setTimeout(connect, 5000); } }, 3000);
    }
  };
}
function stopStream() { clearTimeout(retryTimer); if (es) { es.close(); es = null; } }
// dropStream closes the stream as a network failure would, and reconnects after ms (test hook).
function dropStream(ms = 2000) { stopStream(); setStream('down'); retryTimer = setTimeout(connect, ms); }

// resync reloads the live snapshot and every open or active alarm, so that nothing raised while
// the stream was down is missed (on every (re)connect and on an SSE reset event).
async function resync() {
  if (resyncing) return resyncing;
  setStream('resync');
  resyncing = (async () => {
    try {
      const [live, active, open, acked] = await Promise.all([api('/v1/positions/live'),
        alarmsAll({ active: 'true' }), alarmsAll({ state: 'open' }), alarmsAll({ state: 'acknowledged' })]);
      M.replaceAll(live.features.map((f) => f.properties));
      const byID = new Map();
      for (const a of [...active, ...open, ...acked]) byID.set(a.id, a);
      A.replace([...byID.values()]);
      S.lastSync = Date.now();
      if (es && es.readyState === EventSource.OPEN) setStream('live');
    } catch (e) {
      console.warn('resync', e);
      setTimeout(() => { resyncing = null; resync(); }, 3000);
      return;
    }
    resyncing = null;
  })();
  return resyncing;
}

function onAlarm(ev) {
  const a = A.apply(ev);
  if (S.selected === a.vehicle_id) refreshCard();
  if (ev.event === 'raised' || ev.event === 'acknowledged' || ev.event === 'resolved') loadTodaySoon();
}
function alarmsChanged() { M.setCritical(A.criticalVehicles()); }

function setStream(s) { S.streamState = s; renderStream(); }
function renderStream() {
  const el = document.getElementById('stream-state');
  el.className = 'stream-state ' + S.streamState;
  el.dataset.state = S.streamState;
  el.querySelector('.label').textContent = t('stream.' + S.streamState);
  el.querySelector('.age').textContent = S.lastEvent ? t('stream.ago', { s: fmtAgo(Date.now() - S.lastEvent) }) : '';
}
function renderClock() { document.getElementById('clock').textContent = fmtTime(Date.now()); }

// ---- KPIs ----
let todayTimer = null;
function loadTodaySoon() { clearTimeout(todayTimer); todayTimer = setTimeout(loadToday, 1500); }
async function loadToday() {
  try {
    const since = new Date(startOfToday()).toISOString();
    const list = await alarmsAll({ since }, 5);
    const today = startOfToday();
    let handled = 0;
    const tta = [];
    for (const a of list) {
      const acked = a.acknowledged_at && Date.parse(a.acknowledged_at) >= today, resolved = a.resolved_at && Date.parse(a.resolved_at) >= today;
      if (acked || resolved) handled++;
      if (a.acknowledged_at) tta.push(Date.parse(a.acknowledged_at) - Date.parse(a.raised_at));
    }
    tta.sort((x, y) => x - y);
    S.kpiToday = { handled, tta: tta.length ? tta[Math.floor(tta.length / 2)] : null };
  } catch (e) { console.warn('kpi', e); }
}
function counts() {
  const c = { total: 0, reporting: 0, on_route: 0, off_route: 0, offline: 0 };
  const ids = new Set(S.vehicles.keys());
  for (const [id, v] of M.vehicles()) {
    ids.add(id);
    const st = v.st;
    if (S.carrierFilter && st.carrier_id !== S.carrierFilter) continue;
    if (st.status === 'offline' || v.stale) c.offline++; else c.reporting++;
    if (!v.stale && st.status === 'on_route') c.on_route++;
    if (!v.stale && st.status === 'off_route') c.off_route++;
  }
  for (const id of ids) {
    const car = (S.vehicles.get(id) || M.vehicle(id) || {}).carrier_id;
    if (!S.carrierFilter || car === S.carrierFilter) c.total++;
  }
  return c;
}
function renderKPIs() {
  const c = counts();
  const byKind = {};
  for (const a of A.all().values()) if (a.state !== 'resolved' && (!S.carrierFilter || a.carrier_id === S.carrierFilter)) byKind[a.kind] = (byKind[a.kind] || 0) + 1;
  const open = Object.values(byKind).reduce((x, y) => x + y, 0);
  const box = document.getElementById('kpis');
  const kpi = (key, val, cls = '') => `<div class="kpi ${cls}" data-kpi="${key}"><div class="v">${val}</div><div class="k">${t('kpi.' + key)}</div></div>`;
  const kinds = A.KINDS.filter((k) => byKind[k]).map((k) => `<span class="chip kind-${k}" title="${t('kind.' + k)}">${t('kind.' + k)} <b>${byKind[k]}</b></span>`).join('');
  const tta = S.kpiToday.tta == null ? t('common.none') : fmtAgo(S.kpiToday.tta);
  box.innerHTML = kpi('total', c.total) + kpi('reporting', c.reporting, 'ok') + kpi('on_route', c.on_route, 'ok') + kpi('off_route', c.off_route, c.off_route ? 'warn' : '') +
    kpi('offline', c.offline, c.offline ? 'dim' : '') + `<div class="kpi alarms ${open ? 'crit' : ''}" data-kpi="open"><div class="v">${open}</div><div class="k">${t('kpi.open')}</div></div>` +
    `<div class="kinds">${kinds}</div>` + kpi('handled', S.kpiToday.handled) + kpi('tta', tta);
}

// ---- carriers ----
function renderCarriers() {
  const ul = document.getElementById('carrier-list');
  const per = new Map();
  for (const c of S.carriers.values()) per.set(c.id, { online: 0, total: 0 });
  for (const v of S.vehicles.values()) { if (!per.has(v.carrier_id)) per.set(v.carrier_id, { online: 0, total: 0 }); per.get(v.carrier_id).total++; }
  let on = 0, tot = 0;
  for (const [, v] of M.vehicles()) {
    const p = per.get(v.st.carrier_id);
    if (p && !v.stale && v.st.status !== 'offline') p.online++;
  }
  for (const p of per.values()) { on += p.online; tot += p.total; }
  const row = (id, name, p) => `<li data-carrier="${id}" class="${(S.carrierFilter || '') === id ? 'on' : ''}"><span class="n">${esc(name)}</span><span class="c"><b>${p.online}</b>/${p.total}</span><span class="bar"><i style="width:${p.total ? (100 * p.online / p.total).toFixed(0) : 0}%"></i></span></li>`;
  ul.innerHTML = row('', t('carriers.all'), { online: on, total: tot }) +
    [...per.entries()].sort((a, b) => carrierName(a[0]).localeCompare(carrierName(b[0]))).map(([id, p]) => row(id, carrierName(id), p)).join('');
  ul.title = t('carriers.online');
}
document.getElementById('carrier-list').addEventListener('click', (e) => {
  const li = e.target.closest('li[data-carrier]');
  if (!li) return;
  S.carrierFilter = li.dataset.carrier || null;
  M.setCarrierFilter(S.carrierFilter);
  renderCarriers(); renderKPIs();
});
function renderLegend() {
  const items = [['on_route', 'status.on_route'], ['off_route', 'status.off_route'], ['no_trip', 'status.no_trip'], ['offline', 'status.offline'], ['stale', 'status.stale'], ['critical', 'status.critical']];
  document.getElementById('legend').innerHTML = items.map(([c, k]) => `<div><i class="dot" style="background:${M.COLORS[c]}"></i>${t(k)}</div>`).join('') +
    `<div><i class="band"></i>${t('legend.corridor')}</div><div><i class="sq" style="background:${M.COLORS.restricted}"></i>${t('legend.zone')}</div><div><i class="sq" style="background:${M.COLORS.terminal}"></i>${t('legend.terminal')}</div>`;
}
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));

// ---- selection ----
// tripsOf returns the vehicle's trips, cached for a minute.
async function tripsOf(vid) {
  const c = S.trips.get(vid);
  if (c && Date.now() - c.at < 60000) return c.p;
  const p = api('/v1/trips?vehicle_id=' + encodeURIComponent(vid)).catch(() => []);
  S.trips.set(vid, { at: Date.now(), p });
  return p;
}
function selectVehicle(vid) {
  S.selected = vid;
  M.select(vid);
  showCard(vid, { S, plate, carrierName, alarmsOf: A.forVehicle, tripsOf, canReplay: true, onReplay: (id) => openReplay([id]), onAlarm: selectAlarm });
}
function selectAlarm(a) {
  M.showAlarmFix(a);
  if (a.position) M.flyTo(a.position.lon, a.position.lat);
  selectVehicle(a.vehicle_id);
}

start();
