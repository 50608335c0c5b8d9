// The REST API of the control plane (control/src/main/resources/io/vvolgate/control/api/openapi.yaml),
// and the session: the token is kept in sessionStorage, so it ends with the browser tab.

import { errorField, errorMessage } from './errors.js';

const TOKEN_KEY = 'vvolgate.session';

/** An error answered by the API: a stable code, a sentence for people, and the request field at fault. */
export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field || null;
  }
}

let session = readSession();
const sessionListeners = new Set();

function readSession() {
  try {
    const s = JSON.parse(sessionStorage.getItem(TOKEN_KEY) || 'null');
    if (s && s.token && (!s.expiresAt || Date.parse(s.expiresAt) > Date.now())) return s;
  } catch { /* a damaged entry is no session */ }
  return null;
}

function setSession(s, reason) {
  session = s;
  if (s) sessionStorage.setItem(TOKEN_KEY, JSON.stringify(s));
  else sessionStorage.removeItem(TOKEN_KEY);
  for (const l of sessionListeners) l(s, reason);
}

/** An error found before asking the appliance, shown like the API's own. */
export function localError(field, message) {
  return new ApiError(400, 'invalid_input', message, field);
}

export function currentSession() { return session; }
export function onSessionChange(listener) {
  sessionListeners.add(listener);
  return () => sessionListeners.delete(listener);
}

/** What the role may do: the console offers only that (the server enforces it anyway). */
export function can(action, s = session) {
  const role = s?.role;
  if (action === 'change') return role === 'operator' || role === 'admin';
  if (action === 'admin') return role === 'admin';
  return !!role;
}

async function request(method, path, body, { signal } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (session?.token) headers.Authorization = `Bearer ${session.token}`;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'unreachable', 'The appliance does not answer. Check that it is running and reachable.');
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON: handled below */ }
  if (!res.ok) {
    const e = json?.error;
    const field = errorField(e);
    const err = new ApiError(res.status, e?.code || `http_${res.status}`,
      errorMessage(e, field) || `The appliance answered ${res.status} ${res.statusText || ''}`.trim() + '.', field);
    if (res.status === 401 && path !== '/api/session') setSession(null, 'expired');
    throw err;
  }
  return json;
}

const enc = encodeURIComponent;
function query(params) {
  const q = Object.entries(params || {})
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&');
  return q ? `?${q}` : '';
}

export const api = {
  async login(username, password) {
    const s = await request('POST', '/api/session', { username, password });
    setSession(s);
    return s;
  },
  async logout() {
    try { await request('DELETE', '/api/session'); } catch { /* the session ends here either way */ }
    setSession(null, 'logout');
  },
  session: () => request('GET', '/api/session'),

  containers: (o) => request('GET', '/api/containers', undefined, o),
  space: (id) => request('GET', `/api/containers/${enc(id)}/space`),

  profiles: (o) => request('GET', '/api/profiles', undefined, o),
  createProfile: (p) => request('POST', '/api/profiles', p),
  deleteProfile: (id) => request('DELETE', `/api/profiles/${enc(id)}`),

  vvols: (filters, o) => request('GET', `/api/vvols${query(filters)}`, undefined, o),
  vvol: (id, o) => request('GET', `/api/vvols/${enc(id)}`, undefined, o),
  createVvol: (v) => request('POST', '/api/vvols', v),
  deleteVvol: (id) => request('DELETE', `/api/vvols/${enc(id)}`),
  resize: (id, sizeBytes) => request('POST', `/api/vvols/${enc(id)}/resize`, { sizeBytes }),
  snapshot: (id, name) => request('POST', `/api/vvols/${enc(id)}/snapshots`, name ? { name } : {}),
  fastClone: (id, body) => request('POST', `/api/vvols/${enc(id)}/fast-clone`, body),
  fullClone: (id, body) => request('POST', `/api/vvols/${enc(id)}/clone`, body),
  revert: (id, snapshotId) => request('POST', `/api/vvols/${enc(id)}/revert`, { snapshotId }),
  bind: (id, hostId) => request('POST', `/api/vvols/${enc(id)}/bind`, { hostId }),
  unbind: (id, hostId) => request('POST', `/api/vvols/${enc(id)}/unbind`, { hostId }),
  unbindAll: (id) => request('POST', `/api/vvols/${enc(id)}/unbind-all`),
  changeProfile: (id, profileId) => request('PUT', `/api/vvols/${enc(id)}/profile`, { profileId }),
  compliance: (id) => request('GET', `/api/vvols/${enc(id)}/compliance`),
  updateMetadata: (id, m) => request('PATCH', `/api/vvols/${enc(id)}/metadata`, m),

  hosts: (o) => request('GET', '/api/hosts', undefined, o),
  registerHost: (h) => request('POST', '/api/hosts', h),
  unregisterHost: (id) => request('DELETE', `/api/hosts/${enc(id)}`),

  endpoints: (o) => request('GET', '/api/protocol-endpoints', undefined, o),
  devices: (o) => request('GET', '/api/devices', undefined, o),
  tasks: (o) => request('GET', '/api/tasks', undefined, o),
  task: (id, o) => request('GET', `/api/tasks/${enc(id)}`, undefined, o),
  events: (since, limit, o) => request('GET', `/api/events${query({ since, limit })}`, undefined, o),
  alarms: (active, o) => request('GET', `/api/alarms${query({ active })}`, undefined, o),
  acknowledge: (id) => request('POST', `/api/alarms/${enc(id)}/acknowledge`),
  audit: (limit, o) => request('GET', `/api/audit${query({ limit })}`, undefined, o),
  performance: (o) => request('GET', '/api/performance', undefined, o),

  users: (o) => request('GET', '/api/users', undefined, o),
  createUser: (u) => request('POST', '/api/users', u),
  deleteUser: (name) => request('DELETE', `/api/users/${enc(name)}`),
  setPassword: (name, password) => request('PUT', `/api/users/${enc(name)}/password`, { password }),
};
