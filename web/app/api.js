// api.js — the REST calls the screen makes, with the signed-in token (sessionStorage).
const KEY = 'corridor.token';

export function token() { return sessionStorage.getItem(KEY) || ''; }
export function setToken(t) { if (t) sessionStorage.setItem(KEY, t); else sessionStorage.removeItem(KEY); }

export class APIError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status; this.problem = problem;
  }
}

export async function api(path, { method = 'GET', body, signal } = {}) {
  const headers = { Authorization: 'Bearer ' + token(), Accept: 'application/json, application/geo+json, application/problem+json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal, cache: 'no-store' });
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!r.ok) {
    if (r.status === 401) window.dispatchEvent(new CustomEvent('corridor:unauthorized'));
    throw new APIError(r.status, data);
  }
  return data;
}

// alarmsAll pages GET /v1/alarms with the query until next_cursor is null (at most maxPages).
export async function alarmsAll(query, maxPages = 20) {
  const out = [];
  let cursor = '';
  for (let i = 0; i < maxPages; i++) {
    const q = new URLSearchParams(query);
    q.set('limit', '1000');
    if (cursor) q.set('cursor', cursor);
    const page = await api('/v1/alarms?' + q);
    out.push(...page.alarms);
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  return out;
}

// trackAll pages GET /v1/vehicles/{id}/track over [from, to) until next_cursor is null.
export async function trackAll(vehicleID, from, to, onPage, maxPages = 200) {
  const out = [];
  let cursor = '';
  for (let i = 0; i < maxPages; i++) {
    const q = new URLSearchParams({ from: new Date(from).toISOString(), to: new Date(to).toISOString(), limit: '5000' });
    if (cursor) q.set('cursor', cursor);
    const fc = await api(`/v1/vehicles/${encodeURIComponent(vehicleID)}/track?` + q);
    out.push(...fc.features);
    if (onPage) onPage(out.length);
    if (!fc.next_cursor) break;
    cursor = fc.next_cursor;
  }
  return out;
}
