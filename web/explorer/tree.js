// A session's tree: the shape (a node's path is its parent's path up to `at`, then
// its own tokens), where other branches part from a path, and the tree view
// (collapsible, moved through with the keyboard).

export class Tree {
  constructor(nodes) {
    this.nodes = nodes;
    this.byId = new Map(nodes.map((n) => [n.id, n]));
    this.children = new Map();
    this.roots = [];
    for (const n of nodes) {
      if (n.parent == null) this.roots.push(n);
      else {
        if (!this.children.has(n.parent)) this.children.set(n.parent, []);
        this.children.get(n.parent).push(n);
      }
    }
    const order = (a, b) => a.at - b.at || a.id - b.id;
    this.roots.sort(order);
    for (const list of this.children.values()) list.sort(order);
  }

  kids(id) { return this.children.get(id) || []; }

  // The chain of nodes from the root to `id`, each with the range of path positions it gives.
  chain(id) {
    const out = [];
    let end = Infinity;
    for (let n = this.byId.get(id); n; n = this.byId.get(n.parent)) {
      const stop = Math.min(end, n.at + n.tokens.length);
      out.push({ node: n, from: n.at, to: stop });
      end = n.at;
    }
    return out.reverse();
  }

  // The path's tokens, each as {token, node, own}: own is its index in the node.
  path(id) {
    const out = [];
    for (const { node, from, to } of this.chain(id))
      for (let i = from; i < to; i++) out.push({ token: node.tokens[i - node.at], node: node.id, own: i - node.at });
    return out;
  }

  // Where other branches part from `id`'s path: position -> the nodes that start there.
  forks(id) {
    const chain = this.chain(id);
    const onChain = new Set(chain.map((c) => c.node.id));
    const out = new Map();
    const add = (pos, n) => { if (!out.has(pos)) out.set(pos, []); out.get(pos).push(n); };
    for (const r of this.roots) if (!onChain.has(r.id)) add(0, r);
    chain.forEach(({ node, from, to }, k) => {
      for (const kid of this.kids(node.id)) {
        if (onChain.has(kid.id) || kid.at < from || kid.at > to) continue;
        add(kid.at, kid);
      }
      // Where the path leaves a node that goes on, the node's own continuation is another branch.
      if (k + 1 < chain.length && node.at + node.tokens.length > to) add(to, node);
    });
    return out;
  }

  // A node's own tokens in brief: the first few, for the tree's label.
  static label(n) {
    const text = n.tokens.slice(0, 4).map((t) => t.text).join('');
    return (text || '(empty)').replace(/\n/g, '↵');
  }

  static meanLogprob(n) {
    const lps = n.tokens.map((t) => t.logprob).filter((v) => typeof v === 'number');
    return lps.length ? lps.reduce((a, b) => a + b, 0) / lps.length : null;
  }

  // Siblings of `id` in the order of the tree view (same parent, or the roots).
  siblings(id) {
    const n = this.byId.get(id);
    return n.parent == null ? this.roots : this.kids(n.parent);
  }
}

// The tree view: a nested list; folding and the keyboard cursor live here, the
// choice of the shown node goes back through onOpen.
export class TreeView {
  constructor(root, { onOpen, onCompare }) {
    this.root = root;
    this.onOpen = onOpen;
    this.onCompare = onCompare;
    this.folded = new Set();
    this.cursor = null;
    this.shown = null;
    this.tree = null;
    root.addEventListener('click', (e) => {
      const row = e.target.closest('.node');
      if (!row) return;
      const id = Number(row.dataset.id);
      if (e.target.classList.contains('fold')) { this.toggle(id); return; }
      this.cursor = id;
      this.onOpen(id);
    });
    root.addEventListener('keydown', (e) => this.key(e));
  }

  render(tree, shown) {
    this.tree = tree;
    this.shown = shown;
    if (this.cursor == null || !tree.byId.has(this.cursor)) this.cursor = shown;
    const frag = document.createDocumentFragment();
    const build = (nodes, into) => {
      for (const n of nodes) {
        const li = document.createElement('li');
        li.setAttribute('role', 'treeitem');
        const kids = tree.kids(n.id);
        const row = document.createElement('div');
        row.className = `node ${n.status}`;
        if (n.id === shown) row.classList.add('shown');
        if (n.id === this.cursor) row.classList.add('cursor');
        row.dataset.id = n.id;
        const fold = document.createElement('span');
        fold.className = 'fold';
        fold.textContent = kids.length ? (this.folded.has(n.id) ? '▸' : '▾') : '';
        const label = document.createElement('span');
        label.className = 'label';
        label.textContent = `${n.at ? `@${n.at} ` : ''}${Tree.label(n)}`;
        label.title = `${n.origin}, ${n.tokens.length} tokens, ${n.status}${n.finish ? ` (${n.finish})` : ''}`;
        const score = document.createElement('span');
        score.className = 'score';
        const m = Tree.meanLogprob(n);
        score.textContent = m == null ? '' : m.toFixed(2);
        score.title = 'mean log-probability of its own tokens';
        row.append(fold, label, score);
        li.append(row);
        if (kids.length) {
          li.setAttribute('aria-expanded', String(!this.folded.has(n.id)));
          if (!this.folded.has(n.id)) {
            const ul = document.createElement('ul');
            ul.setAttribute('role', 'group');
            build(kids, ul);
            li.append(ul);
          }
        }
        into.append(li);
      }
    };
    build(tree.roots, frag);
    this.root.replaceChildren(frag);
  }

  // Marks another node as shown, without building the view again.
  setShown(id) {
    this.shown = id;
    for (const el of this.root.querySelectorAll('.node.shown')) el.classList.remove('shown');
    this.root.querySelector(`.node[data-id="${id}"]`)?.classList.add('shown');
  }

  toggle(id) {
    if (this.folded.has(id)) this.folded.delete(id); else this.folded.add(id);
    this.render(this.tree, this.shown);
  }

  // The nodes in the order the view shows them (folded subtrees skipped).
  visible() {
    const out = [];
    const walk = (nodes) => {
      for (const n of nodes) {
        out.push(n.id);
        if (!this.folded.has(n.id)) walk(this.tree.kids(n.id));
      }
    };
    if (this.tree) walk(this.tree.roots);
    return out;
  }

  moveCursor(id) {
    this.cursor = id;
    for (const el of this.root.querySelectorAll('.node.cursor')) el.classList.remove('cursor');
    const row = this.root.querySelector(`.node[data-id="${id}"]`);
    if (row) { row.classList.add('cursor'); row.scrollIntoView({ block: 'nearest' }); }
  }

  key(e) {
    if (!this.tree) return;
    const order = this.visible();
    const i = order.indexOf(this.cursor);
    const n = this.tree.byId.get(this.cursor);
    let handled = true;
    if (e.key === 'ArrowDown' || e.key === 'j') { if (i < order.length - 1) this.moveCursor(order[i + 1]); }
    else if (e.key === 'ArrowUp' || e.key === 'k') { if (i > 0) this.moveCursor(order[i - 1]); }
    else if (e.key === 'ArrowLeft' || e.key === 'h') {
      if (n && this.tree.kids(n.id).length && !this.folded.has(n.id)) this.toggle(n.id);
      else if (n && n.parent != null) this.moveCursor(n.parent);
    } else if (e.key === 'ArrowRight' || e.key === 'l') {
      if (n && this.folded.has(n.id)) this.toggle(n.id);
      else if (n && this.tree.kids(n.id).length) this.moveCursor(this.tree.kids(n.id)[0].id);
    } else if (e.key === 'Enter' || e.key === ' ') { if (n) this.onOpen(n.id); }
    else if (e.key === 'c') { if (n) this.onCompare(n.id); }
    else handled = false;
    if (handled) { e.preventDefault(); e.stopPropagation(); }
  }
}
