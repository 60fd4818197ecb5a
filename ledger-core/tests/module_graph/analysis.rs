//! The module dependency graph of a crate, read from its sources with `syn`.
//!
//! Every module is a node: the crate root, each file module and each inline `mod x { .. }`,
//! except modules gated by `#[cfg(test)]`. Module A depends on module B (an edge A -> B) when
//! A's own code (not its child modules') names B or an item defined in B:
//!
//! * every leaf of every `use` declaration, `pub use` re-exports included;
//! * every path in the code that starts with `crate::`, `self::` or `super::`, or whose first
//!   segment is a name in scope in A (a child module, an import) and that has at least two
//!   segments: paths in types, expressions, patterns, trait bounds, and also paths found in
//!   the tokens of macro invocations (`format!`, `matches!`, ...) and attributes, and in the
//!   string values of attributes (`#[serde(with = "b64")]`).
//!
//! A path is resolved to the module that *defines* the item it names: it is walked through
//! the modules it passes, and where it reaches a name that a module imports (`use`, whatever
//! its visibility, glob imports included) the import is followed to its origin, up to
//! [`MAX_DEPTH`] steps. So `crate::Error`, re-exported by the root from `error`, is an edge to
//! `error`, not to the root. A path naming a module is an edge to that module. Edges from a
//! module to itself and to other crates are dropped; a `mod child;` declaration is no edge.
//!
//! Every `cfg` other than `test` is taken as on (the graph is the union over features), so a
//! cycle in any configuration is a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use proc_macro2::{Spacing, TokenStream, TokenTree};
use syn::punctuated::Punctuated;
use syn::visit::{self, Visit};
use syn::{Attribute, Item, Meta, Token, UseTree};

/// How many imports and path steps one resolution may follow (import and glob loops end).
pub(crate) const MAX_DEPTH: usize = 32;

/// Up to how many elementary cycles a strongly connected component may have for all of them
/// to be listed; with more, one shortest cycle through each of its edges is listed instead.
const MAX_CYCLES_PER_COMPONENT: usize = 100;

/// Index of a module in [`ModuleGraph::modules`].
type ModId = usize;

/// What a name or path resolves to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Res {
    /// A module of the crate.
    Module(ModId),
    /// An item defined in (or, if unknown, reached through) a module of the crate.
    Item(ModId),
    /// Something of another crate, the prelude, or a local binding.
    External,
}

/// How a reference was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum RefKind {
    /// A leaf of a `use` declaration.
    Use,
    /// A path in types, expressions, patterns or bounds.
    Path,
    /// A path among the tokens of a macro invocation or definition.
    Macro,
    /// A path in an attribute, or in a string value of one.
    Attribute,
}

/// One path written in a module.
#[derive(Clone, Debug)]
struct Reference {
    segments: Vec<String>,
    kind: RefKind,
    line: usize,
    /// How the path is shown in a report.
    text: String,
}

/// Where an edge comes from: `file:line: text`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Site {
    file: String,
    line: usize,
    text: String,
    kind: RefKind,
    /// A path (not a `use`) whose first segment is a name the module imports: it goes away
    /// with that import.
    via_import: bool,
}

impl std::fmt::Display for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.text)
    }
}

#[derive(Debug)]
struct Module {
    /// Segments after `crate`.
    path: Vec<String>,
    parent: Option<ModId>,
    /// The file the module's code is in, relative to the crate directory.
    file: String,
    /// Child modules by name (not those declared inside function bodies).
    children: BTreeMap<String, ModId>,
    /// Child modules declared inside function bodies: seen by this module's own paths only.
    local_children: BTreeMap<String, ModId>,
    /// Names of the (non-module) items defined here.
    items: BTreeSet<String>,
    /// Module-level `use` bindings: name -> imported path, as written.
    imports: BTreeMap<String, Vec<Vec<String>>>,
    /// Module-level glob imports, as written.
    globs: Vec<Vec<String>>,
    /// `use` bindings inside function bodies: seen by this module's own paths only.
    local_imports: BTreeMap<String, Vec<Vec<String>>>,
    /// Glob imports inside function bodies.
    local_globs: Vec<Vec<String>>,
    /// Every path written in the module's own code.
    refs: Vec<Reference>,
}

/// The modules of a crate and the dependency edges between them.
#[derive(Debug)]
pub(crate) struct ModuleGraph {
    src_dir: PathBuf,
    modules: Vec<Module>,
    edges: BTreeMap<(ModId, ModId), BTreeSet<Site>>,
}

/// Reads the crate whose root is `src_dir/lib.rs` (or `main.rs`) and builds its module graph.
///
/// # Errors
///
/// A message naming the file if a module file is missing, unreadable or does not parse.
pub(crate) fn analyze(src_dir: &Path) -> Result<ModuleGraph, String> {
    let root_file = ["lib.rs", "main.rs"]
        .iter()
        .map(|name| src_dir.join(name))
        .find(|path| path.is_file())
        .ok_or_else(|| format!("{}: no lib.rs or main.rs", src_dir.display()))?;
    let base = src_dir.parent().unwrap_or(src_dir).to_path_buf();
    let mut builder = Builder {
        base,
        modules: Vec::new(),
    };
    let root = builder.add_module(Vec::new(), None, &root_file);
    builder.load_file(root, &root_file, true)?;
    let mut graph = ModuleGraph {
        src_dir: src_dir.to_path_buf(),
        modules: builder.modules,
        edges: BTreeMap::new(),
    };
    graph.build_edges();
    Ok(graph)
}

struct Builder {
    /// Paths in reports are relative to this (the crate directory).
    base: PathBuf,
    modules: Vec<Module>,
}

impl Builder {
    fn add_module(&mut self, path: Vec<String>, parent: Option<ModId>, file: &Path) -> ModId {
        let shown = file.strip_prefix(&self.base).unwrap_or(file);
        self.modules.push(Module {
            path,
            parent,
            file: shown.display().to_string(),
            children: BTreeMap::new(),
            local_children: BTreeMap::new(),
            items: BTreeSet::new(),
            imports: BTreeMap::new(),
            globs: Vec::new(),
            local_imports: BTreeMap::new(),
            local_globs: Vec::new(),
            refs: Vec::new(),
        });
        self.modules.len() - 1
    }

    /// Parses `file` as the contents of module `id`. A file named by `#[path]`, like the crate
    /// root and `mod.rs`, keeps its child modules beside it; `foo.rs` keeps them in `foo/`.
    fn load_file(&mut self, id: ModId, file: &Path, mod_rs_like: bool) -> Result<(), String> {
        let text = fs::read_to_string(file)
            .map_err(|e| format!("{}: cannot read: {e}", file.display()))?;
        let parsed = syn::parse_file(&text).map_err(|e| {
            let start = e.span().start();
            format!(
                "{}:{}:{}: does not parse: {e}",
                file.display(),
                start.line,
                start.column + 1
            )
        })?;
        let dir = file.parent().unwrap_or(Path::new("")).to_path_buf();
        let child_dir = if mod_rs_like || file.file_name().is_some_and(|n| n == "mod.rs") {
            dir.clone()
        } else {
            let stem = file.file_stem().unwrap_or_default();
            dir.join(stem)
        };
        self.collect(id, &parsed.items, &child_dir, &dir, file)
    }

    /// Records the items of module `id`. `child_dir` is where its file child modules live;
    /// `path_dir` is what a `#[path]` on a child is relative to.
    fn collect(
        &mut self,
        id: ModId,
        items: &[Item],
        child_dir: &Path,
        path_dir: &Path,
        file: &Path,
    ) -> Result<(), String> {
        for item in items {
            if is_test_only(item_attrs(item)) {
                continue;
            }
            match item {
                Item::Mod(m) => {
                    let name = unraw(&m.ident);
                    let mut path = self.modules[id].path.clone();
                    path.push(name.clone());
                    // The module's attributes (docs, cfg, allow) are its parent's code.
                    let mut collector = Collector::new();
                    for attr in &m.attrs {
                        collector.visit_attribute(attr);
                    }
                    self.absorb(id, collector)?;
                    if let Some((_, content)) = &m.content {
                        let child = self.add_module(path, Some(id), file);
                        self.modules[id].children.insert(name.clone(), child);
                        let inner_dir = match path_attr(&m.attrs) {
                            Some(p) => child_dir.join(p),
                            None => child_dir.join(&name),
                        };
                        self.collect(child, content, &inner_dir, &inner_dir, file)?;
                    } else {
                        let (child_file, mod_rs_like) = match path_attr(&m.attrs) {
                            Some(p) => (path_dir.join(p), true),
                            None => {
                                let flat = child_dir.join(format!("{name}.rs"));
                                let nested = child_dir.join(&name).join("mod.rs");
                                if flat.is_file() {
                                    (flat, false)
                                } else if nested.is_file() {
                                    (nested, true)
                                } else {
                                    return Err(format!(
                                        "{}: module `{}` has neither {} nor {}",
                                        file.display(),
                                        name,
                                        flat.display(),
                                        nested.display()
                                    ));
                                }
                            }
                        };
                        let child = self.add_module(path, Some(id), &child_file);
                        self.modules[id].children.insert(name, child);
                        self.load_file(child, &child_file, mod_rs_like)?;
                    }
                }
                Item::Use(u) => {
                    let mut collector = Collector::new();
                    for attr in &u.attrs {
                        collector.visit_attribute(attr);
                    }
                    if u.leading_colon.is_none() {
                        let mut leaves = Vec::new();
                        flatten_use(&u.tree, &mut Vec::new(), &mut leaves);
                        let module = &mut self.modules[id];
                        for leaf in leaves {
                            match &leaf.binding {
                                Binding::Name(name) => module
                                    .imports
                                    .entry(name.clone())
                                    .or_default()
                                    .push(leaf.segments.clone()),
                                Binding::Glob => module.globs.push(leaf.segments.clone()),
                                Binding::Underscore => {}
                            }
                            collector.refs.push(leaf.reference());
                        }
                    }
                    self.absorb(id, collector)?;
                }
                other => {
                    if let Some(name) = item_name(other) {
                        self.modules[id].items.insert(name);
                    }
                    let mut collector = Collector::new();
                    collector.visit_item(other);
                    self.absorb(id, collector)?;
                }
            }
        }
        Ok(())
    }

    /// Adds what a collector found in module `id`'s code; modules declared inside function
    /// bodies become children of `id` that only `id`'s own code can name.
    fn absorb(&mut self, id: ModId, collector: Collector) -> Result<(), String> {
        let Collector {
            refs,
            local_imports,
            local_globs,
            block_mods,
        } = collector;
        let module = &mut self.modules[id];
        module.refs.extend(refs);
        for (name, paths) in local_imports {
            module.local_imports.entry(name).or_default().extend(paths);
        }
        module.local_globs.extend(local_globs);
        let file = PathBuf::from(&self.modules[id].file);
        let file = self.base.join(file);
        for block_mod in block_mods {
            let Some((_, content)) = &block_mod.content else {
                continue;
            };
            let mut path = self.modules[id].path.clone();
            let name = unraw(&block_mod.ident);
            path.push("{block}".to_owned());
            path.push(name.clone());
            let child = self.add_module(path, Some(id), &file);
            self.modules[id].local_children.insert(name, child);
            let dir = file.parent().unwrap_or(Path::new("")).to_path_buf();
            self.collect(child, content, &dir, &dir, &file)?;
        }
        Ok(())
    }
}

/// Finds every path in the code of one module item (not in its child modules).
struct Collector {
    refs: Vec<Reference>,
    local_imports: BTreeMap<String, Vec<Vec<String>>>,
    local_globs: Vec<Vec<String>>,
    block_mods: Vec<syn::ItemMod>,
}

impl Collector {
    fn new() -> Self {
        Self {
            refs: Vec::new(),
            local_imports: BTreeMap::new(),
            local_globs: Vec::new(),
            block_mods: Vec::new(),
        }
    }

    /// Records a path unless it cannot name a module of this crate: a single segment (a
    /// local, an import already recorded by its `use`, an item of this module) or `Self::..`.
    fn record(&mut self, segments: Vec<String>, kind: RefKind, line: usize) {
        if segments.len() < 2 || segments[0] == "Self" {
            return;
        }
        let text = segments.join("::");
        self.refs.push(Reference {
            segments,
            kind,
            line,
            text,
        });
    }

    /// Finds paths `a::b::c` among the tokens of a macro or attribute. With `attribute`, also
    /// the string values of `key = "path"` pairs.
    fn scan_tokens(&mut self, tokens: TokenStream, kind: RefKind, attribute: bool) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < tokens.len() {
            match &tokens[i] {
                TokenTree::Group(group) => {
                    self.scan_tokens(group.stream(), kind, attribute);
                    i += 1;
                }
                TokenTree::Ident(ident) => {
                    let line = ident.span().start().line;
                    let mut segments = vec![unraw(ident)];
                    let mut j = i + 1;
                    while is_path_sep(&tokens, j) {
                        let Some(TokenTree::Ident(next)) = tokens.get(j + 2) else {
                            break;
                        };
                        segments.push(unraw(next));
                        j += 3;
                    }
                    let after_dollar = i > 0 && is_punct(&tokens[i - 1], '$');
                    let after_sep = i >= 2 && is_path_sep(&tokens, i - 2);
                    if after_dollar && segments[0] == "crate" {
                        segments[0] = "$crate".to_owned();
                    }
                    // `::name` is another crate's path (or the tail of one not starting here).
                    if !after_sep {
                        self.record(segments, kind, line);
                    }
                    i = j;
                }
                TokenTree::Literal(literal) if attribute => {
                    let keyed = i >= 2
                        && is_punct(&tokens[i - 1], '=')
                        && matches!(tokens[i - 2], TokenTree::Ident(_));
                    if keyed {
                        let lit =
                            syn::parse2::<syn::LitStr>(TokenTree::from(literal.clone()).into());
                        if let Ok(path) = lit.and_then(|l| l.parse::<syn::Path>()) {
                            if path.leading_colon.is_none() {
                                let segments = path.segments.iter().map(|s| unraw(&s.ident));
                                self.record(segments.collect(), kind, literal.span().start().line);
                            }
                        }
                    }
                    i += 1;
                }
                _ => i += 1,
            }
        }
    }
}

impl<'ast> Visit<'ast> for Collector {
    fn visit_item(&mut self, item: &'ast Item) {
        if is_test_only(item_attrs(item)) {
            return;
        }
        match item {
            // An item inside a function body.
            Item::Mod(m) => {
                for attr in &m.attrs {
                    self.visit_attribute(attr);
                }
                self.block_mods.push(m.clone());
            }
            Item::Use(u) => {
                for attr in &u.attrs {
                    self.visit_attribute(attr);
                }
                if u.leading_colon.is_some() {
                    return;
                }
                let mut leaves = Vec::new();
                flatten_use(&u.tree, &mut Vec::new(), &mut leaves);
                for leaf in leaves {
                    match &leaf.binding {
                        Binding::Name(name) => self
                            .local_imports
                            .entry(name.clone())
                            .or_default()
                            .push(leaf.segments.clone()),
                        Binding::Glob => self.local_globs.push(leaf.segments.clone()),
                        Binding::Underscore => {}
                    }
                    self.refs.push(leaf.reference());
                }
            }
            other => visit::visit_item(self, other),
        }
    }

    fn visit_impl_item(&mut self, item: &'ast syn::ImplItem) {
        let attrs: &[Attribute] = match item {
            syn::ImplItem::Const(i) => &i.attrs,
            syn::ImplItem::Fn(i) => &i.attrs,
            syn::ImplItem::Type(i) => &i.attrs,
            syn::ImplItem::Macro(i) => &i.attrs,
            _ => &[],
        };
        if !is_test_only(attrs) {
            visit::visit_impl_item(self, item);
        }
    }

    fn visit_trait_item(&mut self, item: &'ast syn::TraitItem) {
        let attrs: &[Attribute] = match item {
            syn::TraitItem::Const(i) => &i.attrs,
            syn::TraitItem::Fn(i) => &i.attrs,
            syn::TraitItem::Type(i) => &i.attrs,
            syn::TraitItem::Macro(i) => &i.attrs,
            _ => &[],
        };
        if !is_test_only(attrs) {
            visit::visit_trait_item(self, item);
        }
    }

    fn visit_stmt(&mut self, stmt: &'ast syn::Stmt) {
        let test_only = match stmt {
            syn::Stmt::Local(local) => is_test_only(&local.attrs),
            syn::Stmt::Macro(mac) => is_test_only(&mac.attrs),
            _ => false,
        };
        if !test_only {
            visit::visit_stmt(self, stmt);
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.leading_colon.is_none() {
            if let Some(first) = path.segments.first() {
                let segments = path.segments.iter().map(|s| unraw(&s.ident)).collect();
                self.record(segments, RefKind::Path, first.ident.span().start().line);
            }
        }
        // Generic arguments hold paths of their own.
        visit::visit_path(self, path);
    }

    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {
        // `pub(in crate::a)` and `pub(super)` restrict visibility; they use nothing.
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.visit_path(&mac.path);
        self.scan_tokens(mac.tokens.clone(), RefKind::Macro, false);
    }

    fn visit_attribute(&mut self, attr: &'ast Attribute) {
        let path = attr.path();
        if path.is_ident("doc") || path.is_ident("cfg") || path.is_ident("path") {
            return;
        }
        self.visit_path(path);
        match &attr.meta {
            Meta::List(list) => self.scan_tokens(list.tokens.clone(), RefKind::Attribute, true),
            Meta::NameValue(nv) => self.visit_expr(&nv.value),
            Meta::Path(_) => {}
        }
    }
}

/// What a `use` leaf binds.
enum Binding {
    Name(String),
    Glob,
    Underscore,
}

/// One leaf of a `use` tree: the full path, and what it binds.
struct UseLeaf {
    segments: Vec<String>,
    binding: Binding,
    line: usize,
}

impl UseLeaf {
    fn reference(&self) -> Reference {
        let mut text = format!("use {}", self.segments.join("::"));
        match &self.binding {
            Binding::Glob => text.push_str("::*"),
            Binding::Underscore => text.push_str(" as _"),
            Binding::Name(name) if self.segments.last() != Some(name) => {
                let _ = write!(text, " as {name}");
            }
            Binding::Name(_) => {}
        }
        Reference {
            segments: self.segments.clone(),
            kind: RefKind::Use,
            line: self.line,
            text,
        }
    }
}

/// Splits a `use` tree into its leaves (`use a::{b, c::{self as d, *}}` -> `a::b`,
/// `a::c` bound as `d`, `a::c::*`).
fn flatten_use(tree: &UseTree, prefix: &mut Vec<String>, out: &mut Vec<UseLeaf>) {
    match tree {
        UseTree::Path(p) => {
            prefix.push(unraw(&p.ident));
            flatten_use(&p.tree, prefix, out);
            prefix.pop();
        }
        UseTree::Name(n) => {
            let line = n.ident.span().start().line;
            let (segments, name) = leaf_path(prefix, &n.ident);
            out.push(UseLeaf {
                segments,
                binding: Binding::Name(name),
                line,
            });
        }
        UseTree::Rename(r) => {
            let line = r.ident.span().start().line;
            let (segments, _) = leaf_path(prefix, &r.ident);
            let binding = if r.rename == "_" {
                Binding::Underscore
            } else {
                Binding::Name(unraw(&r.rename))
            };
            out.push(UseLeaf {
                segments,
                binding,
                line,
            });
        }
        UseTree::Glob(g) => out.push(UseLeaf {
            segments: prefix.clone(),
            binding: Binding::Glob,
            line: g.star_token.span.start().line,
        }),
        UseTree::Group(g) => {
            for tree in &g.items {
                flatten_use(tree, prefix, out);
            }
        }
    }
}

/// The path of a `use` leaf named `ident` after `prefix`, and the name it binds (`a::{self}`
/// is `a`, bound as `a`).
fn leaf_path(prefix: &[String], ident: &syn::Ident) -> (Vec<String>, String) {
    let name = unraw(ident);
    if name == "self" && !prefix.is_empty() {
        let bound = prefix.last().cloned().unwrap_or_default();
        (prefix.to_vec(), bound)
    } else {
        let mut segments = prefix.to_vec();
        segments.push(name.clone());
        (segments, name)
    }
}

fn unraw(ident: &impl ToString) -> String {
    let text = ident.to_string();
    match text.strip_prefix("r#") {
        Some(rest) => rest.to_owned(),
        None => text,
    }
}

fn is_punct(token: &TokenTree, ch: char) -> bool {
    matches!(token, TokenTree::Punct(p) if p.as_char() == ch)
}

/// Whether `tokens[i..]` starts with `::`.
fn is_path_sep(tokens: &[TokenTree], i: usize) -> bool {
    matches!(
        (tokens.get(i), tokens.get(i + 1)),
        (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
            if a.as_char() == ':' && a.spacing() == Spacing::Joint && b.as_char() == ':'
    )
}

fn item_attrs(item: &Item) -> &[Attribute] {
    match item {
        Item::Const(i) => &i.attrs,
        Item::Enum(i) => &i.attrs,
        Item::ExternCrate(i) => &i.attrs,
        Item::Fn(i) => &i.attrs,
        Item::ForeignMod(i) => &i.attrs,
        Item::Impl(i) => &i.attrs,
        Item::Macro(i) => &i.attrs,
        Item::Mod(i) => &i.attrs,
        Item::Static(i) => &i.attrs,
        Item::Struct(i) => &i.attrs,
        Item::Trait(i) => &i.attrs,
        Item::TraitAlias(i) => &i.attrs,
        Item::Type(i) => &i.attrs,
        Item::Union(i) => &i.attrs,
        Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

/// The name a (non-module, non-`use`) item defines in its module's namespace.
fn item_name(item: &Item) -> Option<String> {
    let ident = match item {
        Item::Const(i) => &i.ident,
        Item::Enum(i) => &i.ident,
        Item::Fn(i) => &i.sig.ident,
        Item::Macro(i) => i.ident.as_ref()?,
        Item::Static(i) => &i.ident,
        Item::Struct(i) => &i.ident,
        Item::Trait(i) => &i.ident,
        Item::TraitAlias(i) => &i.ident,
        Item::Type(i) => &i.ident,
        Item::Union(i) => &i.ident,
        _ => return None,
    };
    let name = unraw(ident);
    (name != "_").then_some(name)
}

/// Whether the attributes gate their item to test builds (`#[cfg(test)]`, `#[test]`,
/// `#[cfg(all(test, ..))]`).
fn is_test_only(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|attr| {
        if attr.path().is_ident("test") {
            return true;
        }
        if !attr.path().is_ident("cfg") {
            return false;
        }
        attr.parse_args::<Meta>()
            .is_ok_and(|meta| predicate_needs_test(&meta))
    })
}

/// Whether a `cfg` predicate can only hold in a test build.
fn predicate_needs_test(meta: &Meta) -> bool {
    match meta {
        Meta::Path(path) => path.is_ident("test"),
        Meta::List(list) if list.path.is_ident("all") => list
            .parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
            .is_ok_and(|nested| nested.iter().any(predicate_needs_test)),
        Meta::List(list) if list.path.is_ident("any") => list
            .parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
            .is_ok_and(|nested| !nested.is_empty() && nested.iter().all(predicate_needs_test)),
        _ => false,
    }
}

/// The value of a `#[path = "..."]` attribute.
fn path_attr(attrs: &[Attribute]) -> Option<String> {
    attrs.iter().find_map(|attr| match &attr.meta {
        Meta::NameValue(nv) if nv.path.is_ident("path") => match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(s.value()),
            _ => None,
        },
        _ => None,
    })
}

/// A strongly connected component with more than one module, and cycles through it.
#[derive(Debug)]
pub(crate) struct Component {
    /// Its modules, sorted by path.
    modules: Vec<ModId>,
    /// Each cycle starts at its first module in `modules` order. Every elementary cycle if
    /// there are at most [`MAX_CYCLES_PER_COMPONENT`]; else one shortest cycle through each
    /// edge of the component (each edge lies on one).
    cycles: Vec<Vec<ModId>>,
    /// Whether `cycles` is every elementary cycle.
    complete: bool,
}

impl ModuleGraph {
    /// The module's path as Rust writes it: `crate`, `crate::governance::audit`.
    pub(crate) fn name(&self, id: ModId) -> String {
        let mut name = String::from("crate");
        for segment in &self.modules[id].path {
            name.push_str("::");
            name.push_str(segment);
        }
        name
    }

    /// Every module's path.
    pub(crate) fn module_names(&self) -> BTreeSet<String> {
        (0..self.modules.len()).map(|id| self.name(id)).collect()
    }

    /// Every edge, as module paths.
    pub(crate) fn edge_names(&self) -> BTreeSet<(String, String)> {
        self.edges
            .keys()
            .map(|&(from, to)| (self.name(from), self.name(to)))
            .collect()
    }

    /// Whether there is an edge `from -> to` (module paths).
    pub(crate) fn has_edge(&self, from: &str, to: &str) -> bool {
        self.edge_names()
            .contains(&(from.to_owned(), to.to_owned()))
    }

    /// Where the edge `from -> to` comes from (empty if there is none).
    pub(crate) fn sites(&self, from: &str, to: &str) -> Vec<Site> {
        self.edges
            .iter()
            .filter(|((a, b), _)| self.name(*a) == from && self.name(*b) == to)
            .flat_map(|(_, sites)| sites.iter().cloned())
            .collect()
    }

    /// The elementary cycles, as module paths without the closing repeat of the first.
    pub(crate) fn cycles(&self) -> Vec<Vec<String>> {
        self.components()
            .iter()
            .flat_map(|c| c.cycles.iter())
            .map(|cycle| cycle.iter().map(|&id| self.name(id)).collect())
            .collect()
    }

    fn build_edges(&mut self) {
        let mut edges: BTreeMap<(ModId, ModId), BTreeSet<Site>> = BTreeMap::new();
        for from in 0..self.modules.len() {
            for reference in &self.modules[from].refs {
                let target = match self.resolve(from, &reference.segments, true, 0) {
                    Some(Res::Module(m) | Res::Item(m)) => m,
                    Some(Res::External) | None => continue,
                };
                if target == from {
                    continue;
                }
                let module = &self.modules[from];
                let first = reference.segments[0].as_str();
                let via_import = reference.kind != RefKind::Use
                    && !matches!(first, "crate" | "$crate" | "self" | "super")
                    && !module.children.contains_key(first)
                    && !module.local_children.contains_key(first)
                    && !module.items.contains(first);
                edges.entry((from, target)).or_default().insert(Site {
                    file: module.file.clone(),
                    line: reference.line,
                    text: reference.text.clone(),
                    kind: reference.kind,
                    via_import,
                });
            }
        }
        self.edges = edges;
    }

    /// Resolves a path written in module `from`. `own`: the path is `from`'s own code, so
    /// function-local imports count.
    fn resolve(&self, from: ModId, segments: &[String], own: bool, depth: usize) -> Option<Res> {
        if depth > MAX_DEPTH {
            return None;
        }
        let (first, rest) = segments.split_first()?;
        let mut current = match first.as_str() {
            "crate" | "$crate" => 0,
            "self" => from,
            "super" => self.modules[from].parent?,
            "Self" => return None,
            name => match self.lookup(from, name, own, depth + 1) {
                Some(Res::Module(m)) => m,
                Some(other) => return Some(other),
                // Not a name of this module: another crate, the prelude, a local binding.
                None => return Some(Res::External),
            },
        };
        for segment in rest {
            if segment == "super" {
                current = self.modules[current].parent?;
                continue;
            }
            match self.lookup(current, segment, false, depth + 1) {
                Some(Res::Module(m)) => current = m,
                Some(other) => return Some(other),
                // Something `current` has that the analysis cannot see (made by a macro,
                // an enum variant through a glob): it is `current`'s.
                None => return Some(Res::Item(current)),
            }
        }
        Some(Res::Module(current))
    }

    /// What `name` means in module `module`: a child module, an item defined there, or what
    /// an import (explicit before glob) of that name resolves to.
    fn lookup(&self, module: ModId, name: &str, own: bool, depth: usize) -> Option<Res> {
        if depth > MAX_DEPTH {
            return None;
        }
        let m = &self.modules[module];
        if let Some(&child) = m.children.get(name) {
            return Some(Res::Module(child));
        }
        if let Some(&child) = m.local_children.get(name).filter(|_| own) {
            return Some(Res::Module(child));
        }
        if m.items.contains(name) {
            return Some(Res::Item(module));
        }
        let local = own.then_some(&m.local_imports);
        for imports in [Some(&m.imports), local].into_iter().flatten() {
            if let Some(paths) = imports.get(name) {
                for path in paths {
                    if let Some(res) = self.resolve(module, path, own, depth + 1) {
                        return Some(res);
                    }
                }
            }
        }
        let local_globs = if own { &m.local_globs[..] } else { &[] };
        for glob in m.globs.iter().chain(local_globs) {
            if let Some(Res::Module(source)) = self.resolve(module, glob, own, depth + 1) {
                if source != module {
                    if let Some(res) = self.lookup(source, name, false, depth + 1) {
                        return Some(res);
                    }
                }
            }
        }
        None
    }

    /// The strongly connected components with more than one module (Tarjan), with their
    /// cycles, sorted by their first module's path.
    pub(crate) fn components(&self) -> Vec<Component> {
        let n = self.modules.len();
        let mut successors = vec![Vec::new(); n];
        for &(from, to) in self.edges.keys() {
            successors[from].push(to);
        }
        let mut tarjan = Tarjan {
            successors: &successors,
            index: vec![None; n],
            low: vec![0; n],
            on_stack: vec![false; n],
            stack: Vec::new(),
            next: 0,
            components: Vec::new(),
        };
        for v in 0..n {
            if tarjan.index[v].is_none() {
                tarjan.connect(v);
            }
        }
        let mut components: Vec<Component> = tarjan
            .components
            .into_iter()
            .filter(|c| c.len() > 1)
            .map(|mut modules| {
                modules.sort_by_key(|&id| self.name(id));
                let (cycles, complete) = match elementary_cycles(&modules, &successors) {
                    Some(cycles) => (cycles, true),
                    None => (shortest_cycles_through_edges(&modules, &successors), false),
                };
                Component {
                    modules,
                    cycles,
                    complete,
                }
            })
            .collect();
        components.sort_by_key(|c| self.name(c.modules[0]));
        components
    }

    /// A report of the cycles and of the code making each edge that lies on one; `None` if
    /// the graph has no cycle.
    pub(crate) fn cycle_report(&self) -> Option<String> {
        let components = self.components();
        if components.is_empty() {
            return None;
        }
        let mut out = String::new();
        let _ = writeln!(
            out,
            "the module graph of {} has cycles: {} strongly connected component(s) of more than \
             one module",
            self.src_dir.display(),
            components.len()
        );
        for (number, component) in components.iter().enumerate() {
            let members: Vec<String> = component.modules.iter().map(|&id| self.name(id)).collect();
            let _ = writeln!(
                out,
                "\ncomponent {} ({} modules): {}",
                number + 1,
                members.len(),
                members.join(", ")
            );
            if component.complete {
                let _ = writeln!(out, "  its {} cycle(s):", component.cycles.len());
            } else {
                let _ = writeln!(
                    out,
                    "  it has more than {MAX_CYCLES_PER_COMPONENT} cycles; a shortest cycle \
                     through each of its edges ({}):",
                    component.cycles.len()
                );
            }
            for cycle in &component.cycles {
                let mut names: Vec<String> = cycle.iter().map(|&id| self.name(id)).collect();
                names.push(self.name(cycle[0]));
                let _ = writeln!(out, "    {}", names.join(" -> "));
            }
            let _ = writeln!(
                out,
                "  its edges (each lies on a cycle), with the code making them:"
            );
            let members: BTreeSet<ModId> = component.modules.iter().copied().collect();
            let mut edges: Vec<(&(ModId, ModId), &BTreeSet<Site>)> = self
                .edges
                .iter()
                .filter(|((a, b), _)| members.contains(a) && members.contains(b))
                .collect();
            edges.sort_by_key(|((a, b), _)| (self.name(*a), self.name(*b)));
            for ((from, to), sites) in edges {
                let _ = writeln!(out, "    {} -> {}", self.name(*from), self.name(*to));
                write_sites(&mut out, sites);
            }
        }
        Some(out)
    }
}

/// Sites of one edge shown on one report line.
struct SiteGroup<'a> {
    file: &'a str,
    /// The line of the `use` whose leaves these are; `None` for a path.
    use_line: Option<usize>,
    lines: Vec<usize>,
    texts: Vec<&'a str>,
}

/// Lists the sites of one edge: the leaves of one `use` on one line together, other paths
/// one line per file and path text (`file:line,line: text`). Paths through an imported name
/// go away with the import, so when the edge has other sites they are only counted.
fn write_sites(out: &mut String, sites: &BTreeSet<Site>) {
    let (through, direct): (Vec<&Site>, Vec<&Site>) = sites.iter().partition(|s| s.via_import);
    let listed = if direct.is_empty() { &through } else { &direct };
    // In order of first appearance.
    let mut groups: Vec<SiteGroup<'_>> = Vec::new();
    for site in listed {
        let use_line = (site.kind == RefKind::Use).then_some(site.line);
        let found = groups.iter_mut().find(|g| {
            g.file == site.file
                && g.use_line == use_line
                && (use_line.is_some() || g.texts.first() == Some(&site.text.as_str()))
        });
        match found {
            Some(group) => {
                group.lines.push(site.line);
                group.texts.push(&site.text);
            }
            None => groups.push(SiteGroup {
                file: &site.file,
                use_line,
                lines: vec![site.line],
                texts: vec![&site.text],
            }),
        }
    }
    for mut group in groups {
        let text = if group.use_line.is_some() {
            merge_use_leaves(&group.texts)
        } else {
            group.texts[0].to_owned()
        };
        group.lines.dedup();
        let lines: Vec<String> = group.lines.iter().map(ToString::to_string).collect();
        let _ = writeln!(out, "      {}:{}: {text}", group.file, lines.join(","));
    }
    if !direct.is_empty() {
        if let Some(first) = through.first() {
            let _ = writeln!(
                out,
                "      and {} path(s) through the names imported above, first {first}",
                through.len()
            );
        }
    }
}

/// `use a::b::C`, `use a::b` -> `use a::b::{self, C}`.
fn merge_use_leaves(texts: &[&str]) -> String {
    let paths: Vec<Vec<&str>> = texts
        .iter()
        .map(|t| t.trim_start_matches("use ").split("::").collect())
        .collect();
    if paths.len() == 1 {
        return texts[0].to_owned();
    }
    let shortest = paths.iter().map(Vec::len).min().unwrap_or(0);
    let common = (0..shortest)
        .take_while(|&i| paths.iter().all(|p| p[i] == paths[0][i]))
        .count();
    let leaves: Vec<String> = paths
        .iter()
        .map(|p| match &p[common..] {
            [] => "self".to_owned(),
            rest => rest.join("::"),
        })
        .collect();
    if common == 0 {
        return format!("use {{{}}}", leaves.join(", "));
    }
    format!(
        "use {}::{{{}}}",
        paths[0][..common].join("::"),
        leaves.join(", ")
    )
}

struct Tarjan<'a> {
    successors: &'a [Vec<ModId>],
    index: Vec<Option<usize>>,
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<ModId>,
    next: usize,
    components: Vec<Vec<ModId>>,
}

impl Tarjan<'_> {
    fn connect(&mut self, v: ModId) {
        self.index[v] = Some(self.next);
        self.low[v] = self.next;
        self.next += 1;
        self.stack.push(v);
        self.on_stack[v] = true;
        for &w in &self.successors[v] {
            match self.index[w] {
                None => {
                    self.connect(w);
                    self.low[v] = self.low[v].min(self.low[w]);
                }
                Some(index) if self.on_stack[w] => self.low[v] = self.low[v].min(index),
                Some(_) => {}
            }
        }
        if Some(self.low[v]) == self.index[v] {
            let mut component = Vec::new();
            while let Some(w) = self.stack.pop() {
                self.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            self.components.push(component);
        }
    }
}

/// The elementary cycles within one strongly connected component (`members`, in the order
/// cycles should start from), each found once, from its earliest member; `None` if there are
/// more than [`MAX_CYCLES_PER_COMPONENT`].
fn elementary_cycles(members: &[ModId], successors: &[Vec<ModId>]) -> Option<Vec<Vec<ModId>>> {
    let rank: BTreeMap<ModId, usize> = members.iter().enumerate().map(|(i, &m)| (m, i)).collect();
    let mut cycles = Vec::new();
    for (start_rank, &start) in members.iter().enumerate() {
        // Depth-first over members ranked after `start`, one successor index per level.
        let mut path = vec![start];
        let mut cursor = vec![0usize];
        let mut on_path = BTreeSet::from([start]);
        while let Some(&v) = path.last() {
            let Some(position) = cursor.last_mut() else {
                break;
            };
            let mut next_successors = successors[v].iter().filter(|w| rank.contains_key(w));
            let Some(&w) = next_successors.nth(*position) else {
                path.pop();
                cursor.pop();
                on_path.remove(&v);
                continue;
            };
            *position += 1;
            if w == start {
                if cycles.len() == MAX_CYCLES_PER_COMPONENT {
                    return None;
                }
                cycles.push(path.clone());
            } else if rank[&w] > start_rank && !on_path.contains(&w) {
                path.push(w);
                cursor.push(0);
                on_path.insert(w);
            }
        }
    }
    Some(sorted_cycles(cycles, &rank))
}

/// For each edge `u -> v` within the component, the cycle `u -> v -> .. -> u` closed by a
/// shortest path back (breadth-first, successors in `members` order), each cycle once.
fn shortest_cycles_through_edges(members: &[ModId], successors: &[Vec<ModId>]) -> Vec<Vec<ModId>> {
    let rank: BTreeMap<ModId, usize> = members.iter().enumerate().map(|(i, &m)| (m, i)).collect();
    let inside = |v: ModId| -> Vec<ModId> {
        let mut next: Vec<ModId> = successors[v]
            .iter()
            .copied()
            .filter(|w| rank.contains_key(w))
            .collect();
        next.sort_by_key(|w| rank[w]);
        next
    };
    let mut found = BTreeSet::new();
    for &u in members {
        for v in inside(u) {
            // Breadth-first from v back to u.
            let mut previous: BTreeMap<ModId, ModId> = BTreeMap::new();
            let mut queue = std::collections::VecDeque::from([v]);
            let mut seen = BTreeSet::from([v]);
            while let Some(x) = queue.pop_front() {
                if x == u {
                    break;
                }
                for y in inside(x) {
                    if seen.insert(y) {
                        previous.insert(y, x);
                        queue.push_back(y);
                    }
                }
            }
            // The component is strongly connected, so u was reached (unless u == v).
            let mut back = vec![u];
            let mut x = u;
            while x != v {
                let Some(&p) = previous.get(&x) else { break };
                back.push(p);
                x = p;
            }
            back.reverse(); // v .. u
            let mut cycle = vec![u];
            cycle.extend(back.iter().copied().filter(|&x| x != u));
            // Start the cycle at its earliest member.
            let start = (0..cycle.len())
                .min_by_key(|&i| rank[&cycle[i]])
                .unwrap_or(0);
            cycle.rotate_left(start);
            found.insert(cycle);
        }
    }
    sorted_cycles(found.into_iter().collect(), &rank)
}

/// Shortest first, then by their members' ranks.
fn sorted_cycles(mut cycles: Vec<Vec<ModId>>, rank: &BTreeMap<ModId, usize>) -> Vec<Vec<ModId>> {
    cycles.sort_by_key(|cycle| {
        (
            cycle.len(),
            cycle.iter().map(|m| rank[m]).collect::<Vec<_>>(),
        )
    });
    cycles
}
