// The explorer's API (docs/explorer-api.md) from the page: JSON calls, the
// streamed generation read as server-sent events from a POST, and the API key,
// asked for once when the server wants one and kept in localStorage.

const KEY_STORE = 'entropix.apiKey';

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error?.code || null;
    this.param = body?.error?.param || null;
  }
}

let askKey = null;  // set by the page: () => Promise<string|null>
export function onKeyNeeded(fn) { askKey = fn; }

function headers(json) {
  const h = {};
  if (json) h['Content-Type'] = 'application/json';
  const key = localStorage.getItem(KEY_STORE);
  if (key) h.Authorization = `Bearer ${key}`;
  return h;
}

// fetch, asking for the key and trying again once when the server says 401.
async function send(method, path, body, signal) {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(path, {
      method, signal, headers: headers(body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 401 && attempt === 0 && askKey) {
      const key = await askKey();
      if (key) { localStorage.setItem(KEY_STORE, key); continue; }
    }
    return res;
  }
}

async function json(method, path, body) {
  const res = await send(method, path, body);
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export const api = {
  info: () => json('GET', '/explore/v1/info'),
  sessions: () => json('GET', '/explore/v1/sessions').then((r) => r.sessions),
  session: (id) => json('GET', `/explore/v1/sessions/${id}`),
  create: (body) => json('POST', '/explore/v1/sessions', body),
  update: (id, patch) => json('PATCH', `/explore/v1/sessions/${id}`, patch),
  remove: (id) => json('DELETE', `/explore/v1/sessions/${id}`),
  removeNode: (id, node) => json('DELETE', `/explore/v1/sessions/${id}/nodes/${node}`),
  peek: (id, body) => json('POST', `/explore/v1/sessions/${id}/peek`, body),
  stop: (id) => json('POST', `/explore/v1/sessions/${id}/stop`, {}),
  import: (body) => json('POST', '/explore/v1/import', body),
  exportUrl: (id, format, node) =>
    `/explore/v1/sessions/${id}/export?format=${format}${node != null ? `&node=${node}` : ''}`,
  models: () => json('GET', '/explore/v1/models'),
  pull: (model) => json('POST', '/explore/v1/models/pull', { model }),
  pullStatus: () => json('GET', '/explore/v1/models/pull'),
  cancelPull: () => json('POST', '/explore/v1/models/pull/cancel', {}),
  loadModel: (model) => json('POST', '/explore/v1/models/load', { model }),
  removeModel: (model) => json('POST', '/explore/v1/models/remove', { model }),

  // A streamed generate: calls onEvent for each event ({type: node|token|done|error}).
  async generate(id, body, onEvent, signal) {
    const res = await send('POST', `/explore/v1/sessions/${id}/generate`, { ...body, stream: true }, signal);
    if (!res.ok) {
      let data = null;
      try { data = await res.json(); } catch { data = null; }
      throw new ApiError(res.status, data);
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        if (event.startsWith('data: ')) onEvent(JSON.parse(event.slice(6)));
      }
    }
  },
};
