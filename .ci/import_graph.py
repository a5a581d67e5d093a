#!/usr/bin/env python3
"""File-level import circles in each crate of the ipc workspace.

For every crate, each .rs file under <crate>/src is mapped to a module path
(lib.rs/main.rs = crate root, foo/mod.rs = foo, foo/bar.rs = foo::bar).
The file is lexed (comments and string/char literals blanked, line numbers
kept) and scanned for:

  * `use` items (any visibility, nested groups, multi-line, `as`, globs),
    including `use` items inside functions and inline modules;
  * fully-qualified paths in code: `crate::a::b`, `super::x`, `self::x`,
    and `m::x` where `m` is a child module or a name bound by `use` to a
    module (e.g. `use crate::dict::table;` ... `table::lookup`).

Each path is resolved to the deepest module *file* that exists.  When the
named item is not defined in that file but bound there by a `use`
(re-export `pub use`, or a private `use` seen by a child through `super::`),
resolution follows the binding to the file that defines the item.  Globs
(`use super::*`) are expanded to the names the importing file actually
mentions.  `mod child;` declarations are not edges; self edges are dropped.

Edges created only by `pub use` re-exports (facades) are flagged, and SCCs
are reported both for the full graph and for the graph without re-export
edges.  Edges that only occur in `#[cfg(test)]` code are flagged [test].

Strongly connected components of size > 1 are found with Tarjan's algorithm.
A last section lists inherent `impl Type` blocks of one type spread over
several files.

Usage: import_graph.py [WORKSPACE_ROOT]   (default: this repository)

Exits with status 1 when any crate has an import circle (any edge kind) or
a type whose inherent methods are spread over several files: `.ci/run`
calls it so that the layering stays true.
"""
import os
import re
import sys
from collections import defaultdict

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRATES = ["ipc-core", "ipc-queue", "ipc-manager", "ipc-pool", "ipc-test-support", "benches", "examples"]

EXTERN = "<extern>"
KEYWORDS_ITEM = {"struct", "enum", "union", "trait", "fn", "type", "const", "static", "mod"}


# --------------------------------------------------------------------------
# lexing
# --------------------------------------------------------------------------

def blank(s):
    return re.sub(r"[^\n]", " ", s)


def strip_source(src):
    """Blank comments, strings and char literals; keep newlines/positions."""
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        nxt = src[i + 1] if i + 1 < n else ""
        if c == "/" and nxt == "/":
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(blank(src[i:j]))
            i = j
        elif c == "/" and nxt == "*":
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth += 1
                    j += 2
                elif src.startswith("*/", j):
                    depth -= 1
                    j += 2
                else:
                    j += 1
            out.append(blank(src[i:j]))
            i = j
        elif (c in "rb") and re.match(r"(br|rb|r)#*\"", src[i:i + 40]) and not (
            i > 0 and (src[i - 1].isalnum() or src[i - 1] == "_")
        ):
            m = re.match(r"(br|rb|r)(#*)\"", src[i:])
            hashes = m.group(2)
            end = src.find('"' + hashes, i + len(m.group(0)))
            end = n if end < 0 else end + 1 + len(hashes)
            out.append(blank(src[i:end]))
            i = end
        elif c == '"' or (c == "b" and nxt == '"' and not (i > 0 and (src[i - 1].isalnum() or src[i - 1] == "_"))):
            j = i + (2 if c == "b" else 1)
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            out.append(blank(src[i:j + 1]))
            i = j + 1
        elif c == "'":
            # char literal or lifetime
            m = re.match(r"'(\\(x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|.)|[^\\'\n])'", src[i:i + 16])
            if m:
                out.append(blank(m.group(0)))
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        elif c == "b" and nxt == "'" and not (i > 0 and (src[i - 1].isalnum() or src[i - 1] == "_")):
            m = re.match(r"b'(\\(x[0-9a-fA-F]{2}|.)|[^\\'\n])'", src[i:i + 10])
            if m:
                out.append(blank(m.group(0)))
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


TOKEN_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|::|->|=>|[0-9][0-9A-Za-z_.]*|\S")


def tokenize(clean):
    toks = []
    line = 1
    pos = 0
    for m in TOKEN_RE.finditer(clean):
        line += clean.count("\n", pos, m.start())
        pos = m.start()
        toks.append((m.group(0), line))
    return toks


# --------------------------------------------------------------------------
# per-file parse
# --------------------------------------------------------------------------

class UseLeaf:
    __slots__ = ("segs", "alias", "glob", "line", "vis", "scope", "test", "in_fn")

    def __init__(self, segs, alias, glob, line, vis, scope, test, in_fn):
        self.segs, self.alias, self.glob, self.line = segs, alias, glob, line
        self.vis, self.scope, self.test, self.in_fn = vis, scope, test, in_fn


class FileInfo:
    def __init__(self, crate, rel, modpath):
        self.crate, self.rel, self.modpath = crate, rel, modpath
        self.uses = []            # UseLeaf
        self.paths = []           # (segs, line, scope, test)
        self.defs = defaultdict(set)      # scope(modpath tuple) -> names
        self.inline_mods = set()  # full module paths of inline modules
        self.idents = defaultdict(set)    # scope -> identifiers mentioned (outside use items)
        self.impls = []           # (type, trait or None, line, scope)
        self.child_file_mods = set()  # names of `mod x;` declared here


def parse_use_tree(toks, i):
    """Parse a use tree starting at toks[i]; return (leaves, next_index).
    leaves: list of (segs, alias, glob, line)."""
    leaves = []

    def tree(i, prefix):
        segs = list(prefix)
        line = toks[i][1]
        if toks[i][0] == "::":  # leading ::
            i += 1
        while True:
            t = toks[i][0]
            if t == "{":
                i += 1
                while toks[i][0] != "}":
                    i = tree(i, segs)
                    if toks[i][0] == ",":
                        i += 1
                return i + 1
            if t == "*":
                leaves.append((segs, None, True, toks[i][1]))
                return i + 1
            if re.match(r"[A-Za-z_]", t):
                segs = segs + [t]
                line = toks[i][1]
                i += 1
                if toks[i][0] == "::":
                    i += 1
                    continue
                alias = None
                if toks[i][0] == "as":
                    alias = toks[i + 1][0]
                    i += 2
                leaves.append((segs, alias, False, line))
                return i
            raise ValueError("bad use tree at %r line %d" % (t, toks[i][1]))

    i = tree(i, [])
    return leaves, i


def parse_file(fi, src):
    clean = strip_source(src)
    toks = tokenize(clean)
    toks.append(("<eof>", toks[-1][1] if toks else 0))
    n = len(toks)

    # scope stack: list of (kind, modpath, test) ; kind in mod/block
    base = tuple(fi.modpath)
    stack = [("mod", base, False, False)]  # kind, modpath, test, in_fn
    pending_attrs = []
    pending_fn = False   # saw `fn` header, next `{` is fn body
    pending_mod = None   # (name) saw `mod name` waiting for `{` or `;`
    pending_impl = None
    i = 0
    item_start = True

    def cur():
        return stack[-1]

    while i < n - 1:
        t, line = toks[i]
        kind, mp, test, in_fn = cur()
        if t == "#" and toks[i + 1][0] in ("[", "!"):
            # attribute: collect until matching ]
            j = i + 1
            if toks[j][0] == "!":
                j += 1
            depth = 0
            start = j
            while j < n:
                if toks[j][0] == "[":
                    depth += 1
                elif toks[j][0] == "]":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            attr = " ".join(x[0] for x in toks[start:j + 1])
            pending_attrs.append(attr)
            i = j + 1
            continue
        attr_test = any(re.search(r"\bcfg\s*\(\s*test\s*\)", a) for a in pending_attrs)
        if t == "use" and toks[i + 1][0] != "<":
            # visibility?
            vis = None
            k = i - 1
            if k >= 0 and toks[k][0] == ")":
                while k >= 0 and toks[k][0] != "(":
                    k -= 1
                k -= 1
            if k >= 0 and toks[k][0] == "pub":
                vis = "pub" if toks[k + 1][0] != "(" else "pub(%s)" % toks[k + 2][0]
            leaves, j = parse_use_tree(toks, i + 1)
            for segs, alias, glob, ln in leaves:
                fi.uses.append(UseLeaf(segs, alias, glob, ln, vis, mp, test or attr_test, in_fn))
            pending_attrs = []
            i = j
            continue
        if t == "mod" and re.match(r"[A-Za-z_]", toks[i + 1][0]) and toks[i + 2][0] in ("{", ";"):
            name = toks[i + 1][0]
            if toks[i + 2][0] == ";":
                fi.child_file_mods.add(name)
                fi.defs[mp].add(name)
                pending_attrs = []
                i += 3
                continue
            fi.defs[mp].add(name)
            newmp = mp + (name,)
            fi.inline_mods.add(newmp)
            stack.append(("mod", newmp, test or attr_test, False))
            pending_attrs = []
            i += 3
            continue
        if t in KEYWORDS_ITEM and t != "mod" and toks[i - 1][0] not in ("::", ".") :
            nm = toks[i + 1][0]
            if t == "fn":
                pending_fn = True
            if re.match(r"[A-Za-z_]", nm) and not (t in ("const",) and nm in ("fn", "unsafe", "_")) and kind == "mod" and not in_fn:
                if not (t == "type" and toks[i - 1][0] == "impl"):
                    fi.defs[mp].add(nm)
        if t == "macro_rules" and toks[i + 1][0] == "!":
            fi.defs[mp].add(toks[i + 2][0])
        if t == "impl" and kind == "mod" and toks[i - 1][0] not in ("(", ",", ":", "&", "->", "<", "+", "dyn", "=", "mut"):
            # header up to '{' (or ';' never for impl)
            j = i + 1
            depth = 0
            hdr = []
            while j < n:
                tj = toks[j][0]
                if tj == "<":
                    depth += 1
                elif tj == ">":
                    depth -= 1
                elif tj == "{" and depth <= 0:
                    break
                hdr.append(tj)
                j += 1
            h = " ".join(hdr)
            # strip leading generics
            h2 = re.sub(r"^<.*?>\s*(?=[A-Za-z&!(])", "", h) if h.startswith("<") else h
            h2 = re.split(r"\bwhere\b", h2)[0]
            trait = None
            mfor = re.search(r"\bfor\b", h2)
            if mfor:
                trait = h2[:mfor.start()].strip()
                ty = h2[mfor.end():].strip()
            else:
                ty = h2.strip()
            tyname = re.sub(r"[<].*$", "", ty).replace(" ", "").lstrip("&")
            tyname = tyname.split("::")[-1]
            fi.impls.append((tyname, trait, line, mp, test or attr_test))
        if t == "{":
            stack.append(("block", mp, test or attr_test, in_fn or pending_fn))
            pending_fn = False
            pending_attrs = []
        elif t == "}":
            if len(stack) > 1:
                stack.pop()
            pending_attrs = []
        elif t == ";":
            pending_fn = False
            pending_attrs = []
        elif re.match(r"[A-Za-z_]", t):
            # path expression?
            prev = toks[i - 1][0]
            if prev != "$" and prev != "::" and toks[i + 1][0] == "::" and re.match(r"[A-Za-z_]", toks[i + 2][0]):
                segs = [t]
                j = i + 1
                while toks[j][0] == "::" and re.match(r"[A-Za-z_]", toks[j + 1][0]):
                    segs.append(toks[j + 1][0])
                    j += 2
                fi.paths.append((segs, line, mp, test))
                for s in segs:
                    fi.idents[mp].add(s)
                i = j
                continue
            if prev != "::":
                fi.idents[mp].add(t)
        i += 1


# --------------------------------------------------------------------------
# crate model and resolution
# --------------------------------------------------------------------------

class Crate:
    def __init__(self, name):
        self.name = name
        self.src = os.path.join(ROOT, name, "src")
        self.files = {}      # rel -> FileInfo
        self.modfile = {}    # modpath tuple -> rel
        for dp, _, fns in os.walk(self.src):
            for fn in sorted(fns):
                if not fn.endswith(".rs"):
                    continue
                full = os.path.join(dp, fn)
                rel = os.path.relpath(full, self.src)
                parts = rel[:-3].split(os.sep)
                if parts[-1] in ("lib", "main") and len(parts) == 1:
                    mp = ()
                elif parts[-1] == "mod":
                    mp = tuple(parts[:-1])
                else:
                    mp = tuple(parts)
                fi = FileInfo(name, rel, mp)
                with open(full, encoding="utf-8") as f:
                    parse_file(fi, f.read())
                self.files[rel] = fi
                self.modfile[mp] = rel
        # bindings: (file-scope modpath) -> name -> list of UseLeaf
        self.bindings = defaultdict(lambda: defaultdict(list))
        self.globs = defaultdict(list)
        for fi in self.files.values():
            for u in fi.uses:
                if u.in_fn:
                    continue
                if u.glob:
                    self.globs[u.scope].append((fi, u))
                else:
                    nm = u.alias or u.segs[-1]
                    if nm == "self":
                        nm = u.segs[-2]
                    if nm != "_":
                        self.bindings[u.scope][nm].append((fi, u))

    def file_of_scope(self, mp):
        """Deepest module file containing module path mp -> (rel, rest)."""
        for k in range(len(mp), -1, -1):
            if mp[:k] in self.modfile:
                return self.modfile[mp[:k]], list(mp[k:])
        return None, list(mp)

    def is_module(self, mp):
        if mp in self.modfile:
            return True
        rel, rest = self.file_of_scope(mp)
        return rel is not None and tuple(mp) in self.files[rel].inline_mods

    def defined(self, mp, name):
        rel, _ = self.file_of_scope(mp)
        if rel is None:
            return False
        return name in self.files[rel].defs.get(tuple(mp), set()) or self.is_module(tuple(mp) + (name,))

    def absolutize(self, segs, scope, local_aliases=None):
        """Turn a path as written in module `scope` into an absolute module
        path list, or None for extern / unresolvable."""
        segs = list(segs)
        if not segs:
            return None
        if segs[0] == "crate":
            return segs[1:]
        if segs[0] in ("super", "self"):
            base = list(scope)
            while segs and segs[0] in ("super", "self"):
                if segs[0] == "super":
                    if not base:
                        return None
                    base.pop()
                segs.pop(0)
            return base + segs
        # a child module of the current module?
        if self.is_module(tuple(scope) + (segs[0],)):
            return list(scope) + segs
        # a name bound by `use` in this scope (module alias)
        b = (local_aliases or {}).get(segs[0])
        if b is not None:
            return b + segs[1:]
        return None

    def resolve(self, absp, depth=0, want_mod_ok=True):
        """absolute path -> (rel_file, item_path_str) following bindings."""
        if absp is None or depth > 12:
            return None
        absp = list(absp)
        # deepest file module
        k = len(absp)
        while k >= 0 and tuple(absp[:k]) not in self.modfile:
            k -= 1
        if k < 0:
            return None
        rel = self.modfile[tuple(absp[:k])]
        rest = absp[k:]
        if not rest:
            return (rel, "mod " + ("::".join(absp) or "crate"))
        # walk inline modules inside the file
        scope = tuple(absp[:k])
        idx = 0
        while idx < len(rest) - 1 and (scope + (rest[idx],)) in self.files[rel].inline_mods:
            scope = scope + (rest[idx],)
            idx += 1
        name = rest[idx]
        if name in self.files[rel].defs.get(scope, set()) or (scope + (name,)) in self.files[rel].inline_mods:
            return (rel, "::".join(rest))
        # follow a `use` binding in that scope
        for bfi, u in self.bindings.get(scope, {}).get(name, []):
            tgt = self.absolutize(u.segs if u.segs[-1] != "self" else u.segs[:-1], u.scope)
            if tgt is not None:
                r = self.resolve(tgt + rest[idx + 1:], depth + 1)
                if r:
                    return r
            else:
                return (EXTERN, "::".join(u.segs))  # re-export of another crate's item
        for bfi, u in self.globs.get(scope, []):
            tgt = self.absolutize(u.segs, u.scope)
            if tgt is not None and tgt != list(scope):
                r = self.resolve(tgt + rest[idx:], depth + 1)
                if r:
                    return r
        # unknown name (e.g. enum variant path, associated item): attribute to file
        return (rel, "::".join(rest))

    def exported_names(self, mp):
        rel, _ = self.file_of_scope(mp)
        if rel is None:
            return set()
        names = set(self.files[rel].defs.get(tuple(mp), set()))
        names |= set(self.bindings.get(tuple(mp), {}).keys())
        return names


def build_graph(cr):
    # edges[(a,b)] -> list of (name, line, reexport, test)
    edges = defaultdict(list)
    for rel, fi in cr.files.items():
        # aliases per scope: name -> absolute path (only module-ish bindings)
        aliases = defaultdict(dict)
        for u in fi.uses:
            if u.glob:
                continue
            nm = u.alias or u.segs[-1]
            segs = u.segs[:-1] if u.segs[-1] == "self" else u.segs
            if u.segs[-1] == "self":
                nm = u.alias or segs[-1]
            tgt = cr.absolutize(segs, u.scope, aliases[u.scope])
            if tgt is not None:
                aliases[u.scope][nm] = tgt

        def add(tgt_abs, line, reexp, test, label=None):
            r = cr.resolve(tgt_abs)
            if not r:
                return
            trel, item = r
            if trel == rel or trel == EXTERN:
                return
            edges[(rel, trel)].append((label or item, line, reexp, test))

        for u in fi.uses:
            segs = u.segs[:-1] if u.segs[-1] == "self" else u.segs
            tgt = cr.absolutize(segs, u.scope, aliases[u.scope])
            if tgt is None:
                continue
            reexp = u.vis is not None
            if u.glob:
                # expand to names used in this scope (or, for a pub glob, all)
                exported = cr.exported_names(tuple(tgt))
                used = exported if reexp else (exported & fi.idents.get(u.scope, set()))
                for nm in sorted(used):
                    add(tgt + [nm], u.line, reexp, u.test)
                continue
            r = cr.resolve(tgt)
            if r and r[1].startswith("mod "):
                # module import: record names used through it instead
                nm = u.alias or segs[-1]
                found = False
                for psegs, pline, pscope, ptest in fi.paths:
                    if psegs[0] == nm and pscope == u.scope:
                        found = True
                        add(tgt + psegs[1:], pline, False, ptest or u.test)
                if not found or reexp:
                    add(tgt, u.line, reexp, u.test)
                continue
            add(tgt, u.line, reexp, u.test)
        for psegs, pline, pscope, ptest in fi.paths:
            if psegs[0] in aliases[pscope] and psegs[0] not in ("crate", "super", "self"):
                continue  # handled via module import above (or a plain type path)
            if psegs[0] not in ("crate", "super", "self") and not cr.is_module(tuple(pscope) + (psegs[0],)):
                continue
            tgt = cr.absolutize(psegs, pscope)
            if tgt is None:
                continue
            add(tgt, pline, False, ptest)
    return edges


# --------------------------------------------------------------------------
# Tarjan
# --------------------------------------------------------------------------

def tarjan(nodes, adj):
    index = {}
    low = {}
    onstack = set()
    stack = []
    out = []
    counter = [0]
    sys.setrecursionlimit(10000)

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        onstack.add(v)
        for w in sorted(adj.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in onstack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                onstack.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            strong(v)
    return [c for c in out if len(c) > 1]


def fmt_names(lst):
    by = defaultdict(set)
    for name, line, reexp, test in lst:
        by[name].add(line)
    parts = []
    for name in sorted(by, key=lambda s: (min(by[s]), s)):
        parts.append("%s (l.%s)" % (name, ",".join(str(x) for x in sorted(by[name]))))
    return ", ".join(parts)


def report_scc(cr, comps, edges, only):
    for ci, comp in enumerate(comps, 1):
        cs = set(comp)
        print("  SCC %d (%d files): %s" % (ci, len(comp), ", ".join(comp)))
        for (a, b) in sorted(edges):
            if a in cs and b in cs:
                lst = [e for e in edges[(a, b)] if only(e)]
                if not lst:
                    continue
                flags = []
                if all(e[2] for e in lst):
                    flags.append("re-export")
                if all(e[3] for e in lst):
                    flags.append("test")
                fl = (" [" + ",".join(flags) + "]") if flags else ""
                print("    %s -> %s%s: %s" % (a, b, fl, fmt_names(lst)))


def main():
    problems = 0
    print("# import_graph.py: file-level import graph, root = %s" % ROOT)
    print("# edges: use / pub use (followed to the defining file) / crate::, super::, self::, child-module paths in code")
    print("# [re-export] = only via pub use; [test] = only in #[cfg(test)] code; l.N = line of the use in the source file")
    print()
    for name in CRATES:
        if not os.path.isdir(os.path.join(ROOT, name, "src")):
            continue
        cr = Crate(name)
        edges = build_graph(cr)
        print("=" * 78)
        print("crate %s  (%d files, %d file-level edges)" % (name, len(cr.files), len(edges)))
        print("=" * 78)
        nodes = list(cr.files)

        def sccs(pred):
            adj = defaultdict(set)
            for (a, b), lst in edges.items():
                if any(pred(e) for e in lst):
                    adj[a].add(b)
            return tarjan(nodes, adj)

        full = sccs(lambda e: True)
        problems += len(full)
        print("-- SCCs, all edges (use, pub use, paths in code, tests included): %d" % len(full))
        if not full:
            print("  none")
        report_scc(cr, full, edges, lambda e: True)
        core = sccs(lambda e: not e[2] and not e[3])
        print("-- SCCs without re-export (pub use) edges and test-only edges: %d" % len(core))
        if not core:
            print("  none")
        report_scc(cr, core, edges, lambda e: not e[2] and not e[3])
        # folder level: collapse each file to its top-level module
        def top(rel):
            mp = cr.files[rel].modpath
            return (mp[0] + ("/" if (mp[0],) in cr.modfile and cr.modfile[(mp[0],)].endswith("mod.rs") else ".rs")) if mp else rel
        tadj = defaultdict(set)
        tedges = defaultdict(list)
        for (a, b), lst in edges.items():
            core_l = [e for e in lst if not e[2] and not e[3]]
            if top(a) != top(b) and core_l:
                tadj[top(a)].add(top(b))
                tedges[(top(a), top(b))].append((a, b, core_l))
        tcomps = tarjan({top(r) for r in cr.files}, tadj)
        print("-- SCCs between top-level modules (folders collapsed; no re-export/test edges): %d" % len(tcomps))
        if not tcomps:
            print("  none")
        for ci, comp in enumerate(tcomps, 1):
            cs = set(comp)
            print("  module SCC %d: %s" % (ci, ", ".join(comp)))
            for (ta, tb) in sorted(tedges):
                if ta in cs and tb in cs:
                    for a, b, lst in tedges[(ta, tb)]:
                        print("    %s => %s  (%s -> %s: %s)" % (ta, tb, a, b, fmt_names(lst)))
        # inherent impl blocks of one type spread over files
        spread = defaultdict(list)
        for rel, fi in cr.files.items():
            for ty, trait, line, mp, test in fi.impls:
                if trait is not None:
                    continue
                r = cr.resolve(list(mp) + [ty])
                home = r[0] if r else "?"
                spread[(ty, home)].append((rel, line, test))
        multi = {k: v for k, v in spread.items() if len({r for r, _, _ in v}) > 1}
        problems += len(multi)
        print("-- inherent `impl T` blocks of one type in several files: %d types" % len(multi))
        for (ty, home) in sorted(multi):
            locs = ", ".join("%s:%d%s" % (r, l, " [test]" if t else "") for r, l, t in sorted(multi[(ty, home)]))
            print("  impl %s (defined in %s): %s" % (ty, home, locs))
        print()


    print("import graph: %d problem(s)" % problems)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
