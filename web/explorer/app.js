// The explorer page: sessions, the live document, a token's alternatives,
// steering (pick, resample, edit, step), the tree and the comparison of two
// branches. Everything shown comes from the session loaded once; a generation
// streams into it.
import { api, ApiError, onKeyNeeded } from './api.js';
import { Tree, TreeView } from './tree.js';
import { alternatives, colour, legend, pct, visibleText } from './tokens.js';
import { ModelsPage } from './models.js';

const $ = (id) => document.getElementById(id);
const POPOVER_ROWS = 10;  // the popover stays small; the side panel lists all 20

const state = {
  info: null,
  session: null,   // the whole session object
  tree: null,
  shown: null,     // node id whose path the document shows
  path: [],        // [{token, node, own}] of the shown node
  forks: new Map(),
  cursor: null,    // {kind: 'a'|'p', i} token under the keyboard cursor
  pinned: false,   // the popover stays (clicked or opened with Enter)
  altCursor: -1,   // row under the cursor in the open alternatives
  generating: null,  // session id while a generation streams
  compareWith: null,
  minP: 0, measure: 'prob', showWs: false, colorPrompt: false, stepMode: false,
};

const treeView = new TreeView($('tree'), { onOpen: (id) => show(id), onCompare: (id) => compare(id) });

// ---- status and errors --------------------------------------------------

function say(text, error = false) {
  const s = $('status');
  s.textContent = text;
  s.classList.toggle('error', error);
}
const failed = (e) => say(e instanceof ApiError ? `${e.message}${e.status ? ` (${e.status})` : ''}` : String(e), true);

// ---- sessions -------------------------------------------------------------

async function refreshSessions() {
  const list = await api.sessions();
  const ul = $('session-list');
  ul.replaceChildren();
  for (const s of list) {
    const li = document.createElement('li');
    li.dataset.id = s.id;
    if (state.session && s.id === state.session.id) li.classList.add('current');
    li.innerHTML = '<span class="name"></span><span class="meta"></span><button title="Rename">✎</button><button title="Delete">×</button>';
    li.children[0].textContent = s.title;
    li.children[0].title = s.prompt || (s.messages || []).map((m) => `${m.role}: ${m.content}`).join('\n');
    li.children[1].textContent = `${s.n_nodes}↳`;
    li.addEventListener('click', (e) => { if (e.target.tagName !== 'BUTTON') open(s.id); });
    li.children[2].addEventListener('click', () => rename(s.id, s.title));
    li.children[3].addEventListener('click', () => removeSession(s.id, s.title));
    ul.append(li);
  }
  return list;
}

async function rename(id, title) {
  const t = prompt('Rename the session', title);
  if (t == null || !t.trim()) return;
  try {
    await api.update(id, { title: t.trim() });
    if (state.session?.id === id) { state.session.title = t.trim(); $('session-title').textContent = t.trim(); }
    await refreshSessions();
  } catch (e) { failed(e); }
}

async function removeSession(id, title) {
  if (!confirm(`Delete "${title}" and all its branches?`)) return;
  try {
    await api.remove(id);
    if (state.session?.id === id) { state.session = null; showEmpty(); }
    await refreshSessions();
  } catch (e) { failed(e); }
}

function showEmpty() {
  $('session-view').hidden = true;
  $('new-form').hidden = true;
  $('empty-view').hidden = false;
  $('panel').hidden = true;
  $('tree').replaceChildren();
}

async function open(id) {
  try {
    const s = await api.session(id);
    state.session = s;
    state.compareWith = null;
    state.tree = new Tree(s.nodes);
    const shown = s.selected != null && state.tree.byId.has(s.selected) ? s.selected : s.nodes.at(-1)?.id ?? null;
    $('new-form').hidden = true;
    $('empty-view').hidden = true;
    $('session-view').hidden = false;
    $('session-title').textContent = s.title;
    location.hash = `#s${id}`;
    for (const li of $('session-list').children) li.classList.toggle('current', Number(li.dataset.id) === id);
    show(shown, false);
    $('side').classList.remove('open');
    if (state.stepMode) peek();
  } catch (e) { failed(e); }
}

// ---- the document ---------------------------------------------------------

function tokenAt(kind, i) {
  return kind === 'p' ? state.session.prompt_tokens[i] : state.path[i]?.token;
}

function span(t, kind, i) {
  const s = document.createElement('span');
  s.className = `t${kind === 'p' ? ' prompt' : ''}${t.forced ? ' forced' : ''}${t.inserted ? ' inserted' : ''}`;
  s.dataset.k = kind;
  s.dataset.i = i;
  s.textContent = visibleText(t.text ?? '', state.showWs);
  if (kind === 'a' || state.colorPrompt) s.style.background = colour(t, state.measure, state.minP);
  if (kind === 'a' && state.forks.has(i)) { s.classList.add('fork'); s.dataset.forks = state.forks.get(i).length; }
  return s;
}

// Shows node `id`'s path. Switching between branches keeps the spans of the part
// they share and rebuilds only the rest (a long shared prefix costs nothing).
function show(id, persist = true) {
  const s = state.session;
  const old = state.rendered === s ? state.path : null;
  const oldForks = state.forks;
  state.shown = id;
  state.path = id == null ? [] : state.tree.path(id);
  state.forks = id == null ? new Map(state.tree.roots.length ? [[0, state.tree.roots]] : []) : state.tree.forks(id);
  const doc = $('doc');
  let common = 0;
  if (old) {
    while (common < old.length && common < state.path.length && old[common].node === state.path[common].node &&
           old[common].own === state.path[common].own) common++;
    const spans = doc.querySelectorAll('.t[data-k="a"]');
    for (let k = spans.length - 1; k >= common; k--) spans[k].remove();
    // Branch marks in the kept part follow the new tree.
    for (const i of new Set([...oldForks.keys(), ...state.forks.keys()])) {
      if (i >= common) continue;
      const el = spans[i];
      const f = state.forks.get(i);
      el.classList.toggle('fork', !!f);
      if (f) el.dataset.forks = f.length; else delete el.dataset.forks;
    }
  } else {
    const head = document.createDocumentFragment();
    s.prompt_tokens.forEach((t, i) => head.append(span(t, 'p', i)));
    const sep = document.createElement('span');
    sep.className = 'sep';
    head.append(sep);
    doc.replaceChildren(head);
    state.rendered = s;
  }
  const frag = document.createDocumentFragment();
  for (let i = common; i < state.path.length; i++) frag.append(span(state.path[i].token, 'a', i));
  doc.append(frag);
  if (treeView.tree === state.tree) treeView.setShown(id); else treeView.render(state.tree, id);
  legend($('legend'), state.measure);
  $('export-json').href = api.exportUrl(s.id, 'json');
  $('export-json').setAttribute('download', `session-${s.id}.json`);
  $('export-md').href = api.exportUrl(s.id, 'markdown', id);
  $('export-md').setAttribute('download', `session-${s.id}.md`);
  $('generate').textContent = id == null ? 'Generate' : 'Continue';
  hidePopover();
  renderCompare();  // shows the comparison, or the document when there is none
  if (persist && id != null) api.update(s.id, { selected: id }).catch(() => {});
  const n = id == null ? null : state.tree.byId.get(id);
  say(n ? `branch ${n.id}: ${state.path.length} tokens, ${n.status}${n.finish ? ` (${n.finish})` : ''}` : '');
}

// Re-colours in place (measure, min p, whitespace): no rebuild of the document.
function restyle() {
  for (const el of $('doc').querySelectorAll('.t')) {
    const t = tokenAt(el.dataset.k, Number(el.dataset.i));
    if (!t) continue;
    el.textContent = visibleText(t.text ?? '', state.showWs);
    el.style.background = el.dataset.k === 'a' || state.colorPrompt ? colour(t, state.measure, state.minP) : '';
  }
  legend($('legend'), state.measure);
  if (state.cursor) openAlternatives(state.cursor.kind, state.cursor.i, state.pinned);
  if (state.compareWith != null) renderCompare();
}

// ---- alternatives: the popover and the side panel -------------------------

function hidePopover() {
  $('popover').hidden = true;
  state.pinned = false;
  state.altCursor = -1;
}

function openAlternatives(kind, i, pin) {
  const t = tokenAt(kind, i);
  const el = $('doc').querySelector(`.t[data-k="${kind}"][data-i="${i}"]`);
  if (!t || !el) return;
  state.cursor = { kind, i };
  for (const c of $('doc').querySelectorAll('.t.cursor')) c.classList.remove('cursor');
  el.classList.add('cursor');
  const steer = kind === 'a' && !state.generating;
  const opts = {
    minP: state.minP, showWs: state.showWs,
    pick: steer ? (id) => pick(i, id) : null,
    actions: steer ? { resample: () => resample(i), edit: () => edit(i) } : null,
  };
  // The side panel first: opening it narrows the document, which moves the token.
  const panel = $('panel');
  panel.replaceChildren();
  const h = document.createElement('h2');
  h.textContent = `${kind === 'p' ? 'Prompt' : 'Answer'} token ${i}`;
  panel.append(h, alternatives(t, { ...opts, limit: 20 }));
  panel.hidden = false;
  const pop = $('popover');
  pop.replaceChildren(alternatives(t, { ...opts, limit: POPOVER_ROWS }));
  const forks = kind === 'a' ? state.forks.get(i) : null;
  if (forks) {
    const f = document.createElement('div');
    f.className = 'actions';
    for (const n of forks) {
      const b = document.createElement('button');
      b.textContent = `↳ ${n.tokens.slice(i - n.at, i - n.at + 4).map((t) => t.text).join('').replace(/\n/g, '↵') || '(empty)'}`;
      b.title = `show branch ${n.id}`;
      b.addEventListener('click', () => show(n.id));
      f.append(b);
    }
    pop.append(f);
  }
  pop.hidden = false;
  // Fixed in the window: below the token when it fits, else above, else as tall as the window allows.
  const r = el.getBoundingClientRect();
  const vw = document.documentElement.clientWidth;
  const vh = window.innerHeight;
  pop.style.maxHeight = `${vh - 16}px`;
  const pw = pop.offsetWidth;
  const ph = pop.offsetHeight;
  pop.style.left = `${Math.max(4, Math.min(r.left, vw - pw - 4))}px`;
  pop.style.top = `${r.bottom + 4 + ph <= vh ? r.bottom + 4 : r.top - 4 - ph >= 0 ? r.top - 4 - ph : Math.max(8, vh - ph - 8)}px`;
  state.pinned = pin;
  pop.classList.toggle('transient', !pin);
  state.altCursor = -1;
}

function moveAltCursor(delta) {
  const rows = [...$('popover').querySelectorAll('tr.alt')];
  if (!rows.length) return;
  state.altCursor = Math.max(0, Math.min(rows.length - 1, state.altCursor + delta));
  rows.forEach((r, k) => r.classList.toggle('cursor', k === state.altCursor));
}

$('doc').addEventListener('mouseover', (e) => {
  const el = e.target.closest('.t');
  if (el && !state.pinned) openAlternatives(el.dataset.k, Number(el.dataset.i), false);
});
$('doc').addEventListener('click', (e) => {
  const el = e.target.closest('.t');
  if (el) openAlternatives(el.dataset.k, Number(el.dataset.i), true);
});
// The popover is fixed in the window: when the text scrolls away from it, it goes.
document.querySelector('.main').addEventListener('scroll', () => { if (!$('popover').hidden) hidePopover(); }, { passive: true });
document.addEventListener('click', (e) => {
  if (!e.target.closest('#popover') && !e.target.closest('.t') && state.pinned) hidePopover();
});

// ---- steering ---------------------------------------------------------------

async function run(body) {
  const s = state.session;
  if (state.generating) return;
  state.generating = s.id;
  $('generate').hidden = true;
  $('stop').hidden = false;
  hidePopover();
  let node = null;
  let flush = 0;
  const doc = $('doc');
  // Tokens arrive faster than frames: once per frame, the node's tokens not yet shown
  // are added (a switch away and back has shown some of them already).
  const draw = () => {
    flush = 0;
    if (!node || state.shown !== node.id) return;
    const frag = document.createDocumentFragment();
    for (let own = state.path.length - node.at; own < node.tokens.length; own++) {
      const i = state.path.length;
      state.path.push({ token: node.tokens[own], node: node.id, own });
      const el = span(node.tokens[own], 'a', i);
      el.classList.add('live');
      frag.append(el);
    }
    doc.append(frag);
  };
  try {
    await api.generate(s.id, body, (ev) => {
      if (ev.type === 'node') {
        node = s.nodes.find((n) => n.id === ev.node.id);
        if (!node) { node = { ...ev.node, tokens: [] }; s.nodes.push(node); }
        node.status = 'generating';
        state.tree = new Tree(s.nodes);
        show(node.id, false);
      } else if (ev.type === 'token') {
        node.tokens.push(ev.token);
        if (!flush) flush = requestAnimationFrame(draw);
        say(`generating: ${node.tokens.length} tokens`);
      } else if (ev.type === 'done') {
        node.status = ev.status;
        node.finish = ev.finish;
        say(`${ev.finish}; ${ev.cached_tokens} of ${ev.prompt_tokens} tokens before it came from the cache`);
      } else if (ev.type === 'error') {
        node.status = 'error';
        say(ev.message, true);
      }
    });
  } catch (e) { failed(e); }
  if (flush) { cancelAnimationFrame(flush); draw(); }
  state.generating = null;
  $('generate').hidden = false;
  $('stop').hidden = true;
  if (state.session === s) {
    state.tree = new Tree(s.nodes);
    if (node) show(node.id, false);
    refreshSessions().catch(() => {});
    if (state.stepMode) peek();
  }
}

const pick = (i, id) => run({ node: state.shown, at: i, token: id, max_tokens: state.stepMode ? 0 : undefined });
const resample = (i) => run({ node: state.shown, at: i });
function edit(i) {
  const rest = state.path.slice(i).map((p) => p.token.text).join('');
  const text = prompt('Replace the text from here, then the model goes on:', rest);
  if (text == null || text === '') return;
  run({ node: state.shown, at: i, text, max_tokens: state.stepMode ? 0 : undefined });
}
function generate() {
  if (!state.session || state.generating) return;
  run(state.shown == null ? {} : { node: state.shown });
}

// Step mode: the next token's distribution at the end of the shown path; the
// person picks each token (or takes the sampler's).
async function peek() {
  const panel = $('step-panel');
  panel.hidden = !state.stepMode;
  if (!state.stepMode || !state.session) return;
  panel.textContent = 'the next token…';
  try {
    const r = await api.peek(state.session.id, state.shown == null ? {} : { node: state.shown });
    const t = r.token;
    panel.replaceChildren();
    const head = document.createElement('div');
    head.className = 'row';
    head.innerHTML = '<b>Next token</b><span class="hint"></span><span class="grow"></span>';
    head.children[1].textContent = `entropy ${t.entropy.toFixed(2)} bits · ${t.state} · p then q`;
    const take = document.createElement('button');
    take.textContent = 'Take the sampler’s';
    take.addEventListener('click', () => append(t.ids[0]));
    head.append(take);
    const cands = document.createElement('div');
    cands.className = 'cands';
    for (const a of t.top) {
      if (a.p < state.minP) continue;
      const b = document.createElement('button');
      b.textContent = `${visibleText(a.text, true)}  ${pct(a.p)}${a.q != null ? ` / ${pct(a.q)}` : ''}`;
      if (a.q === 0) b.style.opacity = 0.5;
      b.dataset.id = a.id;
      b.addEventListener('click', () => append(a.id));
      cands.append(b);
    }
    panel.append(head, cands);
  } catch (e) { panel.textContent = ''; failed(e); }
}
const append = (id) => run(state.shown == null ? { token: id, max_tokens: 0 } : { node: state.shown, token: id, max_tokens: 0 });

// ---- comparison -------------------------------------------------------------

function compare(id) {
  state.compareWith = id === state.shown ? null : id;
  renderCompare();
}

function renderCompare() {
  const box = $('compare');
  const bar = $('compare-bar');
  if (state.compareWith == null || !state.tree.byId.has(state.compareWith)) {
    box.hidden = true; bar.hidden = true; $('doc').hidden = false;
    return;
  }
  const a = state.path;
  const b = state.tree.path(state.compareWith);
  let common = 0;
  while (common < a.length && common < b.length && a[common].token.ids.join() === b[common].token.ids.join()) common++;
  const col = (path, cls) => {
    const d = document.createElement('div');
    d.className = `doc ${cls}`;
    path.slice(common).forEach((p, k) => {
      const s = document.createElement('span');
      s.className = 't';
      s.textContent = visibleText(p.token.text, state.showWs);
      s.style.background = colour(p.token, state.measure, state.minP);
      s.title = `position ${common + k}`;
      d.append(s);
    });
    return d;
  };
  const pre = document.createElement('div');
  pre.className = 'doc common';
  pre.textContent = visibleText(a.slice(0, common).map((p) => p.token.text).join(''), state.showWs);
  const cols = document.createElement('div');
  cols.className = 'compare-cols';
  cols.append(col(a, 'a'), col(b, 'b'));
  box.replaceChildren(pre, cols);
  bar.textContent = `Branch ${state.shown} and branch ${state.compareWith} part at position ${common} (c in the tree to change; Esc to close)`;
  box.hidden = false; bar.hidden = false; $('doc').hidden = true;
}

// ---- the new-session form ---------------------------------------------------

function newSession() {
  $('session-view').hidden = true;
  $('empty-view').hidden = true;
  const f = $('new-form');
  f.hidden = false;
  f.dataset.mode = f.mode.value;
  $('new-error').textContent = '';
  f.prompt.focus();
}

$('new-form').addEventListener('change', (e) => { if (e.target.name === 'mode') $('new-form').dataset.mode = e.target.value; });
$('new-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const f = e.target;
  const settings = {};
  if (f.sampler.value) settings.sampler = f.sampler.value;
  for (const k of ['temperature', 'top_p', 'min_p']) if (f[k].value !== '') settings[k] = Number(f[k].value);
  for (const k of ['top_k', 'max_tokens', 'seed']) if (f[k].value !== '') settings[k] = parseInt(f[k].value, 10);
  const body = { title: f.title.value.trim() || 'Untitled', settings };
  if (f.mode.value === 'chat') {
    body.messages = [];
    if (f.system.value.trim()) body.messages.push({ role: 'system', content: f.system.value });
    body.messages.push({ role: 'user', content: f.user.value });
  } else body.prompt = f.prompt.value;
  try {
    $('new-error').textContent = 'reading the prompt…';
    const s = await api.create(body);
    $('new-error').textContent = '';
    await refreshSessions();
    await open(s.id);
    if (!state.stepMode) generate();
  } catch (err) { $('new-error').textContent = err.message; }
});

// ---- import and export --------------------------------------------------------

$('import-file').addEventListener('change', async (e) => {
  const file = e.target.files[0];
  e.target.value = '';
  if (!file) return;
  try {
    const s = await api.import(JSON.parse(await file.text()));
    await refreshSessions();
    await open(s.id);
  } catch (err) { failed(err); }
});

// Downloads go through fetch, so that they carry the API key when there is one.
for (const id of ['export-json', 'export-md']) {
  $(id).addEventListener('click', async (e) => {
    if (!localStorage.getItem('entropix.apiKey')) return;
    e.preventDefault();
    const a = e.currentTarget;
    const res = await fetch(a.href, { headers: { Authorization: `Bearer ${localStorage.getItem('entropix.apiKey')}` } });
    const url = URL.createObjectURL(await res.blob());
    const tmp = document.createElement('a');
    tmp.href = url;
    tmp.download = a.getAttribute('download');
    tmp.click();
    URL.revokeObjectURL(url);
  });
}

// ---- controls and keyboard -------------------------------------------------------

$('measure').addEventListener('change', (e) => { state.measure = e.target.value; restyle(); });
$('min-p').addEventListener('input', (e) => {
  state.minP = Number(e.target.value);
  $('min-p-value').textContent = state.minP.toFixed(3);
  restyle();
});
$('show-ws').addEventListener('change', (e) => { state.showWs = e.target.checked; restyle(); });
$('color-prompt').addEventListener('change', (e) => { state.colorPrompt = e.target.checked; restyle(); });
$('step-mode').addEventListener('change', (e) => { state.stepMode = e.target.checked; peek(); });
$('generate').addEventListener('click', generate);
$('stop').addEventListener('click', () => state.session && api.stop(state.session.id).catch(failed));
$('new-session').addEventListener('click', newSession);
$('empty-new').addEventListener('click', newSession);
$('cancel-new').addEventListener('click', () => (state.session ? open(state.session.id) : showEmpty()));
$('session-title').addEventListener('dblclick', () => state.session && rename(state.session.id, state.session.title));
$('toggle-side').addEventListener('click', () => $('side').classList.toggle('open'));
$('show-help').addEventListener('click', () => $('help-dialog').showModal());

function moveCursor(delta) {
  const cur = state.cursor && state.cursor.kind === 'a' ? state.cursor.i : delta > 0 ? -1 : state.path.length;
  const i = Math.max(0, Math.min(state.path.length - 1, cur + delta));
  if (state.path.length) {
    openAlternatives('a', i, true);
    $('doc').querySelector(`.t[data-k="a"][data-i="${i}"]`)?.scrollIntoView({ block: 'nearest' });
  }
}

function siblingBranch(delta) {
  if (state.shown == null) return;
  const sibs = state.tree.siblings(state.shown);
  const k = sibs.findIndex((n) => n.id === state.shown);
  const next = sibs[k + delta];
  if (next) show(next.id);
}

document.addEventListener('keydown', (e) => {
  if (e.target.closest('input, textarea, select, dialog') || e.ctrlKey || e.metaKey || e.altKey) return;
  // The tree's own keys (arrows, Enter, c) stop at the tree; the others come here.
  if ($('session-view').hidden) return;
  const open = !$('popover').hidden;
  const key = e.key;
  if (key === 'Home') moveCursor(-Infinity);
  else if (key === 'End') moveCursor(Infinity);
  else if (key === 'ArrowRight') moveCursor(1);
  else if (key === 'ArrowLeft') moveCursor(-1);
  else if (key === 'ArrowDown' && open) moveAltCursor(1);
  else if (key === 'ArrowUp' && open) moveAltCursor(-1);
  else if (key === 'Enter' && open && state.altCursor >= 0 && state.cursor?.kind === 'a') {
    const row = $('popover').querySelectorAll('tr.alt')[state.altCursor];
    if (row && !state.generating) pick(state.cursor.i, Number(row.dataset.id));
  } else if (key === 'Enter' && state.cursor) { if (open) hidePopover(); else openAlternatives(state.cursor.kind, state.cursor.i, true); }
  else if (key === 'Escape') {
    if (state.generating) api.stop(state.session.id).catch(failed);
    else if (state.compareWith != null) { state.compareWith = null; renderCompare(); }
    else hidePopover();
  } else if (key === 'r' && state.cursor?.kind === 'a' && !state.generating) resample(state.cursor.i);
  else if (key === 'e' && state.cursor?.kind === 'a' && !state.generating) edit(state.cursor.i);
  else if (key === 'g') generate();
  else if (key === 't') { $('tree').focus(); treeView.moveCursor(treeView.cursor ?? state.shown); }
  else if (key === 'd') $('doc').focus();
  else if (key === '[') siblingBranch(-1);
  else if (key === ']') siblingBranch(1);
  else if (key === '?') $('help-dialog').showModal();
  else return;
  e.preventDefault();
});

// ---- the API key, the tabs, start ----------------------------------------------

onKeyNeeded(() => new Promise((resolve) => {
  const d = $('key-dialog');
  $('key-input').value = '';
  d.addEventListener('close', () => resolve(d.returnValue === 'ok' ? $('key-input').value.trim() : null), { once: true });
  d.showModal();
}));

const models = new ModelsPage({ onLoaded: (name) => { $('model-name').textContent = name; } });
function tab(which) {
  $('explore-view').hidden = which !== 'explore';
  $('models-view').hidden = which !== 'models';
  $('tab-explore').classList.toggle('active', which === 'explore');
  $('tab-models').classList.toggle('active', which === 'models');
  $('tab-explore').setAttribute('aria-pressed', String(which === 'explore'));
  $('tab-models').setAttribute('aria-pressed', String(which === 'models'));
  if (which === 'models') models.refresh();
}
$('tab-explore').addEventListener('click', () => tab('explore'));
$('tab-models').addEventListener('click', () => tab('models'));

async function start() {
  try {
    state.info = await api.info();
    $('model-name').textContent = state.info.model;
    const list = await refreshSessions();
    const fromHash = Number((location.hash.match(/^#s(\d+)$/) || [])[1]);
    const first = list.find((s) => s.id === fromHash) || list[0];
    if (first) await open(first.id); else showEmpty();
  } catch (e) { failed(e); showEmpty(); }
}
start();

// For tests and the benchmark: the page's state, read only.
window.explorer = { state, show, open, compare };
