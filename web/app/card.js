// card.js — the bottom card of the selected vehicle: plate, carrier, cargo (UN number, hazard
// class with its placard colour, description, quantity), trip and window, corridor, distance,
// speed, age of the last fix, open alarms, and rejected fixes when the vehicle resource has them.
import { api } from './api.js';
import { t, fmtDateTime, fmtAgo } from './i18n.js';
import * as M from './map.js';

// ADR placard colours by hazard class (first digit; 2.1/2.2/2.3 differ).
const PLACARD = {
  1: ['#ff8c1a', '#000'], '2.1': ['#e0242b', '#fff'], '2.2': ['#1c8c3c', '#fff'], '2.3': ['#ffffff', '#000'], 3: ['#e0242b', '#fff'],
  4: ['#ffffff', '#c00', 'stripes'], 5: ['#ffd400', '#000'], 6: ['#ffffff', '#000'], 7: ['#ffd400', '#000'], 8: ['#ffffff', '#000', 'half'], 9: ['#ffffff', '#000', 'stripes9'],
};
function placard(cls) {
  const p = PLACARD[cls] || PLACARD[String(cls).split('.')[0]] || ['#888', '#000'];
  return `<span class="placard ${p[2] || ''}" style="--pc:${p[0]};--pt:${p[1]}"><span>${esc(cls)}</span></span>`;
}
const esc = (s) => String(s ?? '').replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));

let cur = null, ctx = null, vehicleRes = null, ticker = null;

export function closeCard() { cur = null; document.getElementById('card').innerHTML = `<p class="hint">${t('card.hint')}</p>`; }

export async function showCard(vid, c) {
  cur = vid; ctx = c; vehicleRes = c.S.vehicles.get(vid) || null;
  render();
  // The vehicle resource may carry more than the list had (e.g. rejected-fix counts).
  try { const v = await api('/v1/vehicles/' + encodeURIComponent(vid)); if (cur === vid) { vehicleRes = v; render(); } } catch { /* not visible to this token */ }
  clearInterval(ticker);
  ticker = setInterval(() => { if (cur) renderLive(); }, 1000);
}
export function refreshCard() { if (cur) render(); else closeCard(); }

async function render() {
  const vid = cur;
  const st = M.vehicle(vid) || {};
  const trips = await ctx.tripsOf(vid);
  if (cur !== vid) return;
  const now = Date.now();
  const trip = (st.trip_id && trips.find((x) => x.id === st.trip_id)) ||
    trips.find((x) => !x.cancelled_at && Date.parse(x.starts_at) <= now && now < Date.parse(x.ends_at));
  const corridor = trip && ctx.S.corridors.get(trip.corridor_id);
  const cargo = (trip && trip.cargo) || (vehicleRes && vehicleRes.un_number ? { un_number: vehicleRes.un_number, hazard_class: vehicleRes.hazard_class } : null);
  const alarms = ctx.alarmsOf(vid);
  const rej = vehicleRes && vehicleRes.rejected;
  const box = document.getElementById('card');
  box.innerHTML = `
    <div class="card-main">
      <div class="plate-big">${esc(ctx.plate(vid))}</div>
      <div class="card-sub">${esc(ctx.carrierName(st.carrier_id || (vehicleRes || {}).carrier_id))} · <code>${esc(vid)}</code></div>
      ${cargo ? `<div class="cargo">${placard(cargo.hazard_class)}<div><b>UN ${esc(cargo.un_number)}</b> · ${t('card.class')} ${esc(cargo.hazard_class)}<br>${esc(cargo.description || '')}${cargo.quantity_kg ? ` · ${Math.round(cargo.quantity_kg).toLocaleString()} ${t('card.quantity')}` : ''}</div></div>` : ''}
      <button type="button" class="replay-btn small">${t('card.replay')}</button>
    </div>
    <dl class="facts">
      <dt>${t('card.status')}</dt><dd id="c-status"></dd>
      <dt>${t('card.trip')}</dt><dd>${trip ? `${fmtDateTime(trip.starts_at)} → ${fmtDateTime(trip.ends_at)}` : t('card.notrip')}</dd>
      <dt>${t('card.corridor')}</dt><dd>${corridor ? esc(corridor.properties.name) + ` (±${corridor.properties.buffer_m} ${t('unit.m')})` : t('common.none')}</dd>
      <dt>${t('card.distance')}</dt><dd id="c-dist"></dd>
      <dt>${t('card.speed')}</dt><dd id="c-speed"></dd>
      <dt>${t('card.lastfix')}</dt><dd id="c-fix"></dd>
      ${rej && rej.counts ? `<dt>${t('card.rejected')}</dt><dd class="rejected">${Object.entries(rej.counts).map(([k, n]) => `${esc(k)} <b>${n}</b>`).join(' · ')}${rej.last ? `<br><small>${esc(rej.last.reason)}: ${esc(rej.last.detail || '')} · ${fmtDateTime(rej.last.at)}</small>` : ''}</dd>` : ''}
    </dl>
    <div class="card-alarms"><h4>${t('card.alarms')} (${alarms.length})</h4><ul>${alarms.slice(0, 6).map((a) =>
      `<li class="sev-${a.severity}" data-id="${a.id}">${t('kind.' + a.kind)} · ${fmtDateTime(a.raised_at)} · ${t('state.' + a.state)}</li>`).join('')}</ul></div>`;
  box.querySelector('.replay-btn').addEventListener('click', () => ctx.onReplay(vid));
  for (const li of box.querySelectorAll('.card-alarms li')) li.addEventListener('click', () => { const a = alarms.find((x) => x.id === li.dataset.id); if (a) ctx.onAlarm(a); });
  renderLive();
}

function renderLive() {
  const st = M.vehicle(cur);
  const set = (id, v) => { const e = document.getElementById(id); if (e) e.textContent = v; };
  if (!st) { set('c-status', t('common.none')); set('c-dist', t('common.none')); set('c-speed', t('common.none')); set('c-fix', t('common.none')); return; }
  const stale = M.isStale(st) && st.status !== 'offline';
  set('c-status', stale ? t('status.stale') : t('status.' + st.status));
  const s = document.getElementById('c-status'); if (s) s.className = 'st-' + (stale ? 'stale' : st.status);
  set('c-dist', st.distance_m == null ? t('common.none') : `${Math.round(st.distance_m)} ${t('unit.m')}`);
  set('c-speed', st.speed_kmh == null ? t('common.none') : `${Math.round(st.speed_kmh)} ${t('unit.kmh')}`);
  set('c-fix', `${fmtDateTime(st.ts)} (${fmtAgo(Date.now() - Date.parse(st.ts))})`);
}
