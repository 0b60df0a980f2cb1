// How a token looks: its text (whitespace made visible on demand), its colour by
// the chosen measure, the legend of that measure, and its alternatives with the
// raw probability p and the sampler's q side by side.

export const STATE_COLOURS = {
  LELV: 'var(--lelv)', LEHV: 'var(--lehv)', HELV: 'var(--helv)', HEHV: 'var(--hehv)', ADAPTIVE: 'var(--adaptive)',
};
const STATE_NAMES = {
  LELV: 'low entropy, low varentropy: argmax', LEHV: 'low entropy, high varentropy: branch or narrow',
  HELV: 'high entropy, low varentropy: think', HEHV: 'high entropy, high varentropy: hotter',
  ADAPTIVE: 'in between: adaptive',
};

// Whitespace as it is, or as ␣, ↵ and → when asked.
export function visibleText(text, showWs) {
  if (!showWs) return text;
  return text.replace(/ /g, '␣').replace(/\t/g, '→').replace(/\n/g, '↵\n');
}

export const chosenProb = (t) => (typeof t.logprob === 'number' ? Math.exp(t.logprob) : null);

// Whether a token had an alternative of at least minP besides the one chosen.
export function hadAlternative(t, minP) {
  if (minP <= 0) return true;
  const chosen = t.ids?.[0];
  return (t.top || []).some((a) => a.id !== chosen && a.p >= minP);
}

// The background of a token under `measure`, or '' for none.
export function colour(t, measure, minP) {
  if (t.inserted || !t.top || !t.top.length || !hadAlternative(t, minP)) return '';
  if (measure === 'state') return t.state ? `color-mix(in srgb, ${STATE_COLOURS[t.state]} 32%, transparent)` : '';
  let x;  // 0: sure, 1: most unsure
  if (measure === 'prob') { const p = chosenProb(t); if (p == null) return ''; x = 1 - p; }
  else if (measure === 'entropy') { if (t.entropy == null) return ''; x = Math.min(t.entropy / 4, 1); }
  else { if (t.varentropy == null) return ''; x = Math.min(t.varentropy / 8, 1); }
  if (x < 0.02) return '';
  return `hsla(${measure === 'prob' ? 4 : measure === 'entropy' ? 28 : 280}, 85%, 55%, ${(0.1 + 0.6 * x).toFixed(3)})`;
}

export function legend(el, measure) {
  el.replaceChildren();
  const add = (html) => { const s = document.createElement('span'); s.innerHTML = html; el.append(s); };
  if (measure === 'state') {
    for (const [s, c] of Object.entries(STATE_COLOURS))
      add(`<span class="swatch" style="background:color-mix(in srgb, ${c} 32%, transparent)"></span>${s}`);
  } else {
    const hue = measure === 'prob' ? 4 : measure === 'entropy' ? 28 : 280;
    const [lo, hi] = measure === 'prob' ? ['p = 1', 'p → 0'] : measure === 'entropy' ? ['0 bits', '≥ 4 bits'] : ['0', '≥ 8 bits²'];
    add(`${lo} <span class="ramp" style="background:linear-gradient(90deg, hsla(${hue},85%,55%,.05), hsla(${hue},85%,55%,.7))"></span> ${hi}`);
  }
  add('<u style="text-decoration-color:var(--forced)">chosen by you</u>');
  add('<i style="text-decoration:underline dotted">inserted thinking</i>');
  add('<span style="color:var(--accent)">↳</span> branches part here');
}

const fmt = (x, d = 3) => (x == null ? '–' : Number(x).toFixed(d));
export const pct = (x) => (x == null ? '–' : x >= 0.9995 ? '100%' : x < 0.0005 && x > 0 ? '<0.1%' : `${(100 * x).toFixed(1)}%`);

// The alternatives and metrics of a step, as an element. `pick(id)` for a row;
// actions: {resample, edit} for the buttons (absent for prompt tokens).
export function alternatives(t, { minP = 0, limit = 20, showWs = false, pick = null, actions = null }) {
  const box = document.createElement('div');
  box.className = 'alternatives';
  const table = document.createElement('table');
  table.className = 'alts';
  table.innerHTML = '<colgroup><col class="tok"><col class="bar"><col class="num"><col class="num"></colgroup>';
  const chosen = t.inserted ? null : t.ids?.[0];
  let hidden = 0;
  let listedChosen = false;
  const top = t.top || [];
  for (const a of top.slice(0, limit)) {
    if (a.p < minP && a.id !== chosen) { hidden += a.p; continue; }
    const tr = document.createElement('tr');
    tr.className = 'alt';
    if (a.id === chosen) { tr.classList.add('chosen'); listedChosen = true; }
    if (a.q === 0) { tr.classList.add('excluded'); tr.title = 'the sampler ruled this token out'; }
    tr.dataset.id = a.id;
    tr.dataset.p = a.p;
    if (a.q != null) tr.dataset.q = a.q;
    tr.innerHTML = '<td class="tok"></td><td class="bar"><span></span><span class="q"></span></td><td class="num p"></td><td class="num q"></td>';
    tr.children[0].textContent = visibleText(a.text, true);
    tr.children[1].children[0].style.width = `${Math.max(1, 100 * a.p)}%`;
    tr.children[1].children[1].style.width = a.q == null ? '0' : `${Math.max(a.q > 0 ? 1 : 0, 100 * a.q)}%`;
    tr.children[2].textContent = pct(a.p);
    tr.children[3].textContent = a.q == null ? '' : pct(a.q);
    if (pick) tr.addEventListener('click', () => pick(a.id));
    table.append(tr);
  }
  for (const a of top.slice(limit)) hidden += a.p;
  if (chosen != null && !listedChosen && top.length) {
    const p = chosenProb(t);
    const tr = document.createElement('tr');
    tr.className = 'chosen outside';
    tr.title = 'the chosen token is outside the listed alternatives';
    tr.innerHTML = '<td class="tok"></td><td></td><td class="num"></td><td></td>';
    tr.children[0].textContent = visibleText(t.text, true);
    tr.children[2].textContent = pct(p);
    table.append(tr);
  }
  if (top.length) {
    const tr = document.createElement('tr');
    tr.className = 'others';
    const others = (t.others || 0) + hidden;
    tr.dataset.p = others;
    tr.innerHTML = '<td class="tok">others</td><td></td><td class="num p"></td><td></td>';
    tr.children[2].textContent = pct(others);
    table.append(tr);
    const head = document.createElement('tr');
    head.innerHTML = '<td class="hint">token</td><td class="hint">p / q</td><td class="num hint" title="raw probability">p</td><td class="num hint" title="probability under the sampler that was used">q</td>';
    table.querySelector('colgroup').after(head);
  } else {
    const tr = document.createElement('tr');
    tr.innerHTML = `<td class="hint">${t.inserted ? 'inserted by the policy: no draw' : t.logprob == null && !t.ids ? '' : 'no alternatives (read, not drawn)'}</td>`;
    table.append(tr);
  }
  box.append(table);

  const m = document.createElement('div');
  m.className = 'metrics';
  const cell = (k, v, title) => { m.insertAdjacentHTML('beforeend', `<span title="${title || ''}">${k}</span><b></b>`); m.lastChild.textContent = v; };
  cell('entropy', `${fmt(t.entropy)} bits`);
  cell('varentropy', `${fmt(t.varentropy)} bits²`);
  if (t.attn_entropy != null) {
    cell('attn entropy', fmt(t.attn_entropy)); cell('attn varentropy', fmt(t.attn_varentropy));
    cell('agreement', fmt(t.agreement)); cell('interaction', fmt(t.interaction));
  }
  cell('logprob', fmt(t.logprob));
  cell('action', t.action || (t.forced ? 'chosen' : '–'));
  box.append(m);
  if (t.state) {
    const s = document.createElement('div');
    s.className = 'row';
    s.style.marginTop = '4px';
    s.innerHTML = `<span class="state" style="background:${STATE_COLOURS[t.state]}"></span><span class="hint"></span>`;
    s.children[0].textContent = t.state;
    s.children[1].textContent = `${STATE_NAMES[t.state] || ''}${t.forced ? ' · chosen by you' : ''}${t.inserted ? ' · inserted' : ''}`;
    box.append(s);
  }
  if (actions) {
    const bar = document.createElement('div');
    bar.className = 'actions';
    for (const [label, fn, key] of [['Resample here', actions.resample, 'r'], ['Edit from here', actions.edit, 'e']]) {
      if (!fn) continue;
      const b = document.createElement('button');
      b.textContent = label;
      b.title = `(${key})`;
      b.addEventListener('click', fn);
      bar.append(b);
    }
    box.append(bar);
  }
  return box;
}
