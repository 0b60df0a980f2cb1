// The models page: the local cache, a pull from Hugging Face with its progress
// and a cancel, removal, and switching the loaded model.
import { api } from './api.js';

const $ = (id) => document.getElementById(id);

function bytes(n) {
  if (n == null) return '?';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let u = 0;
  while (n >= 1024 && u < units.length - 1) { n /= 1024; u++; }
  return `${n.toFixed(u ? 1 : 0)} ${units[u]}`;
}

function duration(s) {
  if (s == null || !Number.isFinite(s)) return '?';
  s = Math.round(s);
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
}

export class ModelsPage {
  constructor({ onLoaded }) {
    this.onLoaded = onLoaded;
    this.timer = null;
    $('pull-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        await api.pull(e.target.model.value.trim());
        this.poll();
      } catch (err) { this.error(err); }
    });
    $('pull-cancel').addEventListener('click', () => api.cancelPull().catch((err) => this.error(err)));
  }

  error(e) { $('models-error').textContent = e ? e.message : ''; }

  async refresh() {
    this.error(null);
    let r;
    try { r = await api.models(); } catch (e) { this.error(e); return; }
    $('loaded-model').textContent = r.loading ? `loading ${r.loading}…` : r.loaded ? `${r.loaded.name} (${r.loaded.path})` : 'none';
    const body = $('model-table').tBodies[0];
    body.replaceChildren();
    for (const m of r.models) {
      const tr = document.createElement('tr');
      tr.innerHTML = '<td></td><td></td><td></td><td></td><td></td>';
      tr.children[0].textContent = m.name;
      tr.children[1].textContent = m.quant;
      tr.children[2].textContent = bytes(m.size);
      tr.children[3].textContent = m.downloaded_at;
      const load = document.createElement('button');
      load.textContent = 'Load';
      load.disabled = !r.can_load;
      load.addEventListener('click', () => this.load(m.name));
      const rm = document.createElement('button');
      rm.textContent = 'Remove';
      rm.addEventListener('click', async () => {
        if (!confirm(`Remove ${m.name} from the cache?`)) return;
        try { await api.removeModel(m.name); this.refresh(); } catch (e) { this.error(e); }
      });
      tr.children[4].append(load, ' ', rm);
      body.append(tr);
    }
    if (!r.models.length) body.innerHTML = '<tr><td colspan="5" class="hint">No models in the cache yet: pull one below.</td></tr>';
    this.showPull(r.pull);
    if (r.pull?.state === 'running') this.poll();
  }

  async load(name) {
    $('loaded-model').textContent = `loading ${name}…`;
    try {
      const r = await api.loadModel(name);
      this.onLoaded(r.loaded.name);
    } catch (e) { this.error(e); }
    this.refresh();
  }

  showPull(p) {
    const box = $('pull-progress');
    if (!p) { box.hidden = true; return; }
    box.hidden = false;
    const bar = box.querySelector('progress');
    if (p.total) { bar.max = p.total; bar.value = p.bytes; } else bar.removeAttribute('value');
    const text = p.state === 'running'
      ? `${p.model}: ${bytes(p.bytes)} of ${bytes(p.total)}, ${bytes(p.bytes_per_second)}/s, ${duration(p.seconds_left)} left`
      : p.state === 'done' ? `${p.model}: done (${bytes(p.bytes)})` : `${p.model}: ${p.state}${p.error ? `: ${p.error}` : ''}`;
    box.querySelector('.pull-text').textContent = text;
    $('pull-cancel').hidden = p.state !== 'running';
  }

  poll() {
    clearTimeout(this.timer);
    this.timer = setTimeout(async () => {
      try {
        const { pull } = await api.pullStatus();
        this.showPull(pull);
        if (pull?.state === 'running') this.poll(); else this.refresh();
      } catch (e) { this.error(e); }
    }, 500);
  }
}
