// i18n.js — English and Chinese strings; the language defaults to the browser's, is switchable
// and remembered (localStorage). Times are 24-hour, in the server's CORRIDOR_TIMEZONE.
const STR = {
  en: {
    'app.title': 'Corridor · Hazmat live monitoring',
    'signin.help': 'Paste an API token (corridor apikey create, or the admin token printed at start). It is kept in this browser tab only.',
    'signin.token': 'API token', 'signin.submit': 'Sign in', 'signin.out': 'Sign out',
    'signin.bad': 'This token was not accepted.', 'signin.unreachable': 'The server cannot be reached.',
    'kpi.total': 'Vehicles', 'kpi.reporting': 'Reporting', 'kpi.on_route': 'On route', 'kpi.off_route': 'Off route',
    'kpi.offline': 'Offline', 'kpi.open': 'Open alarms', 'kpi.handled': 'Handled today', 'kpi.tta': 'Median to ack',
    'carriers.title': 'Carriers', 'carriers.all': 'All carriers', 'carriers.online': 'online / total',
    'alarms.title': 'Alarms', 'alarms.sounding': 'sounding', 'alarms.mute': 'Mute', 'alarms.unmute': 'Sound on',
    'alarms.none': 'No alarm matches the filters.', 'alarms.ack': 'Acknowledge', 'alarms.resolve': 'Resolve',
    'alarms.allkinds': 'All kinds', 'alarms.unresolved': 'Unresolved', 'alarms.allcarriers': 'All carriers',
    'alarms.active': 'active', 'alarms.cleared': 'cleared', 'alarms.raised': 'raised', 'alarms.escalated': 'escalated',
    'alarms.ackd': 'acknowledged', 'alarms.resolvedby': 'resolved', 'alarms.by': 'by',
    'state.open': 'Open', 'state.acknowledged': 'Acknowledged', 'state.resolved': 'Resolved', 'state.all': 'All states',
    'resolve.title': 'Resolve alarm', 'resolve.disposal': 'Disposal', 'resolve.note': 'Note (required)', 'resolve.submit': 'Resolve',
    'disposal.handled': 'Handled', 'disposal.no_action': 'No action needed', 'disposal.false_alarm': 'False alarm', 'disposal.later': 'Follow up later',
    'common.cancel': 'Cancel', 'common.close': 'Close', 'common.none': '—',
    'stream.connecting': 'Connecting', 'stream.live': 'Live', 'stream.down': 'Reconnecting', 'stream.resync': 'Resyncing',
    'stream.ago': 'last event {s} ago',
    'status.on_route': 'On route', 'status.off_route': 'Off route', 'status.no_trip': 'No trip', 'status.offline': 'Offline (signal lost)', 'status.stale': 'No recent fix',
    'status.critical': 'Critical alarm',
    'kind.route_deviation': 'Route deviation', 'kind.restricted_zone': 'Restricted zone', 'kind.overspeed': 'Overspeed',
    'kind.signal_lost': 'Signal lost', 'kind.unauthorized_stop': 'Unauthorized stop', 'kind.fatigue_driving': 'Fatigue driving', 'kind.device_alarm': 'Device alarm',
    'sev.critical': 'critical', 'sev.warning': 'warning',
    'card.hint': 'Click a vehicle on the map or an alarm in the queue.', 'card.plate': 'Plate', 'card.carrier': 'Carrier',
    'card.cargo': 'Cargo', 'card.class': 'Class', 'card.trip': 'Trip', 'card.corridor': 'Corridor', 'card.distance': 'Distance to corridor',
    'card.speed': 'Speed', 'card.lastfix': 'Last fix', 'card.alarms': 'Open alarms', 'card.rejected': 'Rejected fixes',
    'card.replay': 'Replay track', 'card.status': 'Status', 'card.notrip': 'no active trip', 'card.quantity': 'kg',
    'replay.title': 'Replay', 'replay.vehicles': 'Vehicles', 'replay.from': 'From', 'replay.to': 'To', 'replay.load': 'Load',
    'replay.play': 'Play', 'replay.pause': 'Pause', 'replay.follow': 'Follow', 'replay.close': 'Close replay',
    'replay.loading': 'Loading…', 'replay.empty': 'No fixes in this range.', 'replay.fixes': '{n} fixes',
    'replay.speed': 'km/h', 'replay.marks': 'alarm ▲  stop ■  off route —',
    'map.basemap': 'Offline base map: approximate, hand-drawn (rivers, roads, district). Not for navigation.',
    'legend.corridor': 'Corridor and buffer', 'legend.zone': 'Restricted zone (in force)', 'legend.terminal': 'Terminal / parking',
    'unit.m': 'm', 'unit.kmh': 'km/h', 'ago.s': '{n} s', 'ago.m': '{n} min', 'ago.h': '{n} h', 'ago.d': '{n} d',
  },
  zh: {
    'app.title': '危运通道 · 两客一危实时监控',
    'signin.help': '粘贴 API 令牌（corridor apikey create，或启动时打印的管理员令牌）。令牌只保存在本浏览器标签页中。',
    'signin.token': 'API 令牌', 'signin.submit': '登录', 'signin.out': '退出',
    'signin.bad': '令牌无效。', 'signin.unreachable': '无法连接服务器。',
    'kpi.total': '车辆总数', 'kpi.reporting': '在线上报', 'kpi.on_route': '在线路内', 'kpi.off_route': '偏离线路',
    'kpi.offline': '离线', 'kpi.open': '未处理报警', 'kpi.handled': '今日已处理', 'kpi.tta': '确认用时中位数',
    'carriers.title': '运输企业', 'carriers.all': '全部企业', 'carriers.online': '在线 / 总数',
    'alarms.title': '报警队列', 'alarms.sounding': '正在响铃', 'alarms.mute': '静音', 'alarms.unmute': '开启声音',
    'alarms.none': '没有符合条件的报警。', 'alarms.ack': '确认', 'alarms.resolve': '处置',
    'alarms.allkinds': '全部类型', 'alarms.unresolved': '未处置', 'alarms.allcarriers': '全部企业',
    'alarms.active': '持续中', 'alarms.cleared': '已解除', 'alarms.raised': '产生', 'alarms.escalated': '已升级',
    'alarms.ackd': '已确认', 'alarms.resolvedby': '已处置', 'alarms.by': '操作人',
    'state.open': '未确认', 'state.acknowledged': '已确认', 'state.resolved': '已处置', 'state.all': '全部状态',
    'resolve.title': '处置报警', 'resolve.disposal': '处置结果', 'resolve.note': '处置说明（必填）', 'resolve.submit': '提交处置',
    'disposal.handled': '已处理', 'disposal.no_action': '无需处理', 'disposal.false_alarm': '误报', 'disposal.later': '稍后跟进',
    'common.cancel': '取消', 'common.close': '关闭', 'common.none': '—',
    'stream.connecting': '连接中', 'stream.live': '实时', 'stream.down': '重新连接中', 'stream.resync': '同步中',
    'stream.ago': '最近事件 {s} 前',
    'status.on_route': '线路内', 'status.off_route': '偏离线路', 'status.no_trip': '无运单', 'status.offline': '离线（信号丢失）', 'status.stale': '无最新定位',
    'status.critical': '严重报警',
    'kind.route_deviation': '偏离路线', 'kind.restricted_zone': '驶入禁行区', 'kind.overspeed': '超速',
    'kind.signal_lost': '信号丢失', 'kind.unauthorized_stop': '违规停车', 'kind.fatigue_driving': '疲劳驾驶', 'kind.device_alarm': '终端报警',
    'sev.critical': '严重', 'sev.warning': '一般',
    'card.hint': '点击地图上的车辆或报警队列中的报警。', 'card.plate': '车牌', 'card.carrier': '企业',
    'card.cargo': '货物', 'card.class': '危险品类别', 'card.trip': '运单', 'card.corridor': '通道', 'card.distance': '距通道',
    'card.speed': '速度', 'card.lastfix': '最后定位', 'card.alarms': '未处置报警', 'card.rejected': '被拒定位',
    'card.replay': '轨迹回放', 'card.status': '状态', 'card.notrip': '无有效运单', 'card.quantity': '千克',
    'replay.title': '轨迹回放', 'replay.vehicles': '车辆', 'replay.from': '开始', 'replay.to': '结束', 'replay.load': '加载',
    'replay.play': '播放', 'replay.pause': '暂停', 'replay.follow': '跟随', 'replay.close': '关闭回放',
    'replay.loading': '加载中…', 'replay.empty': '该时段没有定位。', 'replay.fixes': '{n} 个定位点',
    'replay.speed': '千米/时', 'replay.marks': '报警 ▲  停车 ■  偏离 —',
    'map.basemap': '离线底图：手绘近似（河流、道路、区界），不可用于导航。',
    'legend.corridor': '通道及缓冲区', 'legend.zone': '禁行区（生效中）', 'legend.terminal': '码头 / 停车场',
    'unit.m': '米', 'unit.kmh': '千米/时', 'ago.s': '{n} 秒', 'ago.m': '{n} 分钟', 'ago.h': '{n} 小时', 'ago.d': '{n} 天',
  },
};

const cfg = window.CORRIDOR_CONFIG || {};
let lang = localStorage.getItem('corridor.lang') || ((navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh' : 'en');
const listeners = [];

export function getLang() { return lang; }
export function setLang(l) {
  lang = STR[l] ? l : 'en';
  localStorage.setItem('corridor.lang', lang);
  document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
  applyStatic();
  for (const f of listeners) f(lang);
}
export function onLang(f) { listeners.push(f); }

export function t(key, vars) {
  let s = (STR[lang] && STR[lang][key]) ?? STR.en[key] ?? key;
  if (vars) for (const [k, v] of Object.entries(vars)) s = s.replace('{' + k + '}', v);
  return s;
}

// applyStatic fills every element with data-i18n.
export function applyStatic() {
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const b of document.querySelectorAll('.lang-toggle')) b.textContent = lang === 'zh' ? 'English' : '中文';
  document.title = t('app.title');
}

// Formatting in CORRIDOR_TIMEZONE (falls back to the fixed offset if the browser lacks the zone).
function zoneOK(tz) { try { new Intl.DateTimeFormat('en', { timeZone: tz }); return true; } catch { return false; } }
const tz = cfg.timezone && zoneOK(cfg.timezone) ? cfg.timezone : 'UTC';
const shift = tz === 'UTC' && cfg.timezone !== 'UTC' ? (cfg.utc_offset_minutes || 0) * 60000 : 0;
const fmts = {};
function fmt(kind) {
  const k = lang + kind;
  if (!fmts[k]) {
    const o = { timeZone: tz, hourCycle: 'h23' };
    if (kind === 'time') Object.assign(o, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
    if (kind === 'dt') Object.assign(o, { month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
    if (kind === 'hm') Object.assign(o, { hour: '2-digit', minute: '2-digit' });
    if (kind === 'parts') Object.assign(o, { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
    fmts[k] = new Intl.DateTimeFormat(lang === 'zh' ? 'zh-CN' : 'en-GB', o);
  }
  return fmts[k];
}
const ms = (d) => (d instanceof Date ? d.getTime() : typeof d === 'number' ? d : Date.parse(d)) + shift;
export const fmtTime = (d) => (d ? fmt('time').format(ms(d)) : t('common.none'));
export const fmtDateTime = (d) => (d ? fmt('dt').format(ms(d)) : t('common.none'));
export const fmtHM = (d) => (d ? fmt('hm').format(ms(d)) : t('common.none'));

// localParts returns {y, mo, d, h, mi, s} of an instant in the zone.
export function localParts(d) {
  const p = {};
  for (const x of fmt('parts').formatToParts(ms(d))) p[x.type] = x.value;
  return { y: +p.year, mo: +p.month, d: +p.day, h: +p.hour % 24, mi: +p.minute, s: +p.second };
}
// zonedToInstant turns a local wall time in the zone into epoch ms (two passes handle DST).
export function zonedToInstant(y, mo, d, h = 0, mi = 0) {
  let guess = Date.UTC(y, mo - 1, d, h, mi);
  for (let i = 0; i < 2; i++) {
    const p = localParts(guess);
    const asUTC = Date.UTC(p.y, p.mo - 1, p.d, p.h, p.mi, p.s);
    guess += Date.UTC(y, mo - 1, d, h, mi) - asUTC;
  }
  return guess;
}
export function startOfToday() { const p = localParts(Date.now()); return zonedToInstant(p.y, p.mo, p.d); }
// toLocalInput / fromLocalInput convert between instants and "YYYY-MM-DD HH:MM" in the zone (24-hour).
export function toLocalInput(d) {
  const p = localParts(d); const z = (n) => String(n).padStart(2, '0');
  return `${p.y}-${z(p.mo)}-${z(p.d)} ${z(p.h)}:${z(p.mi)}`;
}
export function fromLocalInput(v) {
  const m = /^\s*(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)/.exec(v || '');
  return m ? zonedToInstant(+m[1], +m[2], +m[3], +m[4], +m[5]) : NaN;
}
export function fmtAgo(msAgo) {
  const s = Math.max(0, Math.round(msAgo / 1000));
  if (s < 120) return t('ago.s', { n: s });
  if (s < 7200) return t('ago.m', { n: Math.round(s / 60) });
  if (s < 172800) return t('ago.h', { n: Math.round(s / 3600) });
  return t('ago.d', { n: Math.round(s / 86400) });
}
export const timezone = tz;
