// alarms.js — the alarm queue: newest first, severity colours, filters by kind/state/carrier,
// acknowledge and resolve (with disposal and note) for the roles that may, the who and when of
// each step, and a beep + flash while a critical alarm waits for acknowledgement.
import { api } from './api.js';
import { t, fmtDateTime, fmtTime, onLang } from './i18n.js';

export const KINDS = ['route_deviation', 'restricted_zone', 'overspeed', 'signal_lost', 'unauthorized_stop', 'fatigue_driving', 'device_alarm'];
const DISPOSALS = ['handled', 'no_action', 'false_alarm', 'later'];
const MAX_SHOWN = 300;

const alarms = new Map();          // id → Alarm
const escalated = new Set();       // ids that got an "escalated" event
let ctx = null;                    // {canHandle, plate(vid), carrierName(cid), onSelect(alarm), onChange()}
let muted = sessionStorage.getItem('corridor.muted') === '1';
let audio = null;
export const sound = { beeps: 0, sounding: false };
let renderQueued = false;

export function initAlarms(c) {
  ctx = c;
  const kindSel = document.getElementById('f-kind'), stateSel = document.getElementById('f-state');
  for (const s of [kindSel, stateSel, document.getElementById('f-carrier')]) s.addEventListener('change', render);
  document.getElementById('mute').addEventListener('click', () => {
    muted = !muted; sessionStorage.setItem('corridor.muted', muted ? '1' : '0'); renderMute(); tick();
  });
  document.getElementById('resolve-cancel').addEventListener('click', () => document.getElementById('resolve-dialog').close());
  fillFilters();
  onLang(() => { fillFilters(); renderMute(); render(); });
  renderMute();
  setInterval(tick, 2000);
}

export function unlockAudio() {
  try {
    if (!audio) audio = new (window.AudioContext || window.webkitAudioContext)();
    if (audio.state === 'suspended') audio.resume();
  } catch (e) { console.warn('audio', e); }
}

function beep() {
  sound.beeps++;
  if (!audio) return;
  const now = audio.currentTime;
  for (const [i, f] of [[0, 880], [1, 660]]) {
    const o = audio.createOscillator(), g = audio.createGain();
    o.type = 'square'; o.frequency.value = f;
    g.gain.setValueAtTime(0.0001, now + i * 0.22);
    g.gain.exponentialRampToValueAtTime(0.12, now + i * 0.22 + 0.02);
    g.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.22 + 0.2);
    o.connect(g).connect(audio.destination);
    o.start(now + i * 0.22); o.stop(now + i * 0.22 + 0.21);
  }
}

// waiting: critical alarms nobody has acknowledged yet.
function waiting() {
  let n = 0;
  for (const a of alarms.values()) if (a.severity === 'critical' && a.state === 'open') n++;
  return n;
}
function tick() {
  const n = waiting();
  sound.sounding = n > 0 && !muted;
  document.getElementById('sounding').hidden = !sound.sounding;
  document.body.classList.toggle('critical-waiting', n > 0);
  if (sound.sounding) beep();
}
function renderMute() { document.getElementById('mute').textContent = muted ? t('alarms.unmute') : t('alarms.mute'); }

function fillFilters() {
  const opts = (id, list) => {
    const el = document.getElementById(id), v = el.value;
    el.innerHTML = '';
    for (const [val, label] of list) { const o = document.createElement('option'); o.value = val; o.textContent = label; el.append(o); }
    if (v && [...el.options].some((o) => o.value === v)) el.value = v;
  };
  opts('f-kind', [['', t('alarms.allkinds')], ...KINDS.map((k) => [k, t('kind.' + k)])]);
  opts('f-state', [['unresolved', t('alarms.unresolved')], ['open', t('state.open')], ['acknowledged', t('state.acknowledged')], ['resolved', t('state.resolved')], ['', t('state.all')]]);
  opts('f-carrier', [['', t('alarms.allcarriers')], ...ctx.carriers().map((c) => [c.id, c.name])]);
  opts('disposal', DISPOSALS.map((d) => [d, t('disposal.' + d)]));
}
export function refreshCarrierFilter() { fillFilters(); }

// ---- the set of alarms ----
export function all() { return alarms; }
export function replace(list) {
  const keepResolved = [...alarms.values()].filter((a) => a.state === 'resolved');
  alarms.clear();
  for (const a of keepResolved) alarms.set(a.id, a);
  for (const a of list) alarms.set(a.id, a);
  changed();
}
export function apply(ev) {
  const a = ev.alarm;
  const cur = alarms.get(a.id);
  // Events can arrive out of order around a resync: never go back from resolved/acknowledged.
  const order = { open: 0, acknowledged: 1, resolved: 2 };
  if (cur && order[cur.state] > order[a.state]) { a.state = cur.state; a.acknowledged_at ??= cur.acknowledged_at; a.acknowledged_by ??= cur.acknowledged_by; a.resolved_at ??= cur.resolved_at; a.resolved_by ??= cur.resolved_by; }
  alarms.set(a.id, a);
  if (ev.event === 'escalated') escalated.add(a.id);
  changed();
  return a;
}
function changed() { ctx.onChange(); render(); }

export function criticalVehicles() {
  const s = new Set();
  for (const a of alarms.values()) if (a.severity === 'critical' && a.state !== 'resolved' && (a.active || a.state === 'open')) s.add(a.vehicle_id);
  return s;
}
export function forVehicle(vid) {
  return [...alarms.values()].filter((a) => a.vehicle_id === vid && a.state !== 'resolved').sort((a, b) => b.raised_at.localeCompare(a.raised_at));
}

// ---- rendering ----
export function render() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(doRender);
}
function doRender() {
  renderQueued = false;
  const kind = document.getElementById('f-kind').value, state = document.getElementById('f-state').value, carrier = document.getElementById('f-carrier').value;
  const list = [...alarms.values()].filter((a) => (!kind || a.kind === kind) && (!carrier || a.carrier_id === carrier) &&
    (state === '' || (state === 'unresolved' ? a.state !== 'resolved' : a.state === state)))
    .sort((a, b) => b.raised_at.localeCompare(a.raised_at));
  document.getElementById('alarm-count').textContent = list.length;
  const ol = document.getElementById('alarm-list');
  ol.textContent = '';
  if (!list.length) { const li = document.createElement('li'); li.className = 'empty'; li.textContent = t('alarms.none'); ol.append(li); return; }
  for (const a of list.slice(0, MAX_SHOWN)) ol.append(item(a));
}

function el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; }

function item(a) {
  const li = el('li', `alarm sev-${a.severity} state-${a.state}` + (a.severity === 'critical' && a.state === 'open' ? ' flash' : '') + (escalated.has(a.id) ? ' escalated' : ''));
  li.dataset.id = a.id; li.dataset.kind = a.kind; li.dataset.vehicle = a.vehicle_id; li.dataset.state = a.state;
  const head = el('div', 'a-head');
  head.append(el('span', 'a-kind', t('kind.' + a.kind) + (a.device_alarm ? ` · ${a.device_alarm}` : '')));
  head.append(el('span', 'a-sev', t('sev.' + a.severity)));
  if (escalated.has(a.id)) head.append(el('span', 'a-esc', t('alarms.escalated')));
  head.append(el('span', 'a-time', fmtTime(a.raised_at)));
  li.append(head);
  const sub = el('div', 'a-sub');
  sub.append(el('b', 'a-plate', ctx.plate(a.vehicle_id)), el('span', 'a-carrier', ctx.carrierName(a.carrier_id)));
  const facts = [];
  if (a.distance_m != null) facts.push(`${Math.round(a.distance_m)} ${t('unit.m')}`);
  if (a.speed_kmh != null) facts.push(`${Math.round(a.speed_kmh)} ${t('unit.kmh')}`);
  facts.push(a.active ? t('alarms.active') : `${t('alarms.cleared')} ${fmtTime(a.cleared_at)}`);
  sub.append(el('span', 'a-facts', facts.join(' · ')));
  li.append(sub);
  const steps = el('div', 'a-steps');
  steps.append(el('span', '', `${t('alarms.raised')} ${fmtDateTime(a.raised_at)}`));
  if (a.acknowledged_at) steps.append(el('span', '', `${t('alarms.ackd')} ${fmtDateTime(a.acknowledged_at)} ${t('alarms.by')} ${a.acknowledged_by || ''}`));
  if (a.resolved_at) steps.append(el('span', '', `${t('alarms.resolvedby')} ${fmtDateTime(a.resolved_at)} ${t('alarms.by')} ${a.resolved_by || ''}` + (a.disposal ? ` · ${t('disposal.' + a.disposal)}` : '')));
  if (a.note) steps.append(el('span', 'a-note', '“' + a.note + '”'));
  li.append(steps);
  if (ctx.canHandle() && a.state !== 'resolved') {
    const act = el('div', 'a-actions');
    if (a.state === 'open') {
      const b = el('button', 'ack small', t('alarms.ack'));
      b.addEventListener('click', (e) => { e.stopPropagation(); ack(a, b); });
      act.append(b);
    }
    const r = el('button', 'resolve small ghost', t('alarms.resolve'));
    r.addEventListener('click', (e) => { e.stopPropagation(); openResolve(a); });
    act.append(r);
    li.append(act);
  }
  li.addEventListener('click', () => ctx.onSelect(a));
  return li;
}

async function ack(a, btn) {
  btn.disabled = true;
  try { apply({ event: 'acknowledged', alarm: await api(`/v1/alarms/${a.id}/ack`, { method: 'POST', body: {} }) }); tick(); } catch (e) { btn.disabled = false; alert(e.message); }
}

function openResolve(a) {
  const dlg = document.getElementById('resolve-dialog'), form = document.getElementById('resolve-form');
  document.getElementById('resolve-what').textContent = `${t('kind.' + a.kind)} · ${ctx.plate(a.vehicle_id)} · ${fmtDateTime(a.raised_at)}`;
  document.getElementById('resolve-note').value = '';
  document.getElementById('resolve-error').textContent = '';
  form.onsubmit = async (e) => {
    e.preventDefault();
    const note = document.getElementById('resolve-note').value.trim(), disposal = document.getElementById('disposal').value;
    if (!note) { document.getElementById('resolve-error').textContent = t('resolve.note'); return; }
    try {
      apply({ event: 'resolved', alarm: await api(`/v1/alarms/${a.id}/resolve`, { method: 'POST', body: { note, disposal } }) });
      dlg.close(); tick();
    } catch (err) { document.getElementById('resolve-error').textContent = err.message; }
  };
  dlg.showModal();
  document.getElementById('resolve-note').focus();
}
