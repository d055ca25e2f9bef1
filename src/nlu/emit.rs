//! Code generation for one template: `Expr` → [`Inst`] steps and the words every match must
//! contain. Expansion rules are compiled once per language and spliced where they are used.

use super::compile::{CompiledLanguage, Inst};
use super::error::{NluError, Result};
use super::glue::{glue, needs_glue, Glued};
use super::grammar::{RuleDef, Template};
use super::hash::{FastHash, NameMap};
use super::lists::ListDef;
use super::template::{Node, Tree};
use std::collections::HashMap;

/// Permutations of more items than this are refused (n! programs).
const MAX_PERMUTATION: usize = 5;
/// Expansion rules nested deeper than this are refused (and bound the compiler's recursion).
const MAX_RULE_DEPTH: usize = 64;
/// Instructions one template may compile to; permutations and rules multiply quickly.
const MAX_PROGRAM: usize = 200_000;

/// Buffers reused from template to template, so compiling one allocates nothing new.
pub(crate) struct Scratch {
    /// The program being built; jump targets are indices into it.
    pub program: Vec<Inst>,
    /// Token ids every match must contain (unsorted, possibly repeated).
    pub required: Vec<u32>,
    /// Pending jumps to the end of the alternatives being emitted (a stack).
    jumps: Vec<usize>,
    /// The walk over a finished program that finds its first steps, and those steps.
    pub walk: Vec<u32>,
    pub first: Vec<u32>,
    pub seen: Vec<u32>,
}

impl Default for Scratch {
    /// Sized for a large template, so the buffers do not grow step by step.
    fn default() -> Scratch {
        Scratch {
            program: Vec::with_capacity(1024),
            required: Vec::with_capacity(256),
            jumps: Vec::with_capacity(64),
            walk: Vec::with_capacity(64),
            first: Vec::with_capacity(64),
            seen: Vec::with_capacity(64),
        }
    }
}

/// Expansion rules compiled once per language (rules such as `<turn_on>` appear in hundreds
/// of templates; re-expanding them per use was most of the load time).
#[derive(Default)]
pub(crate) struct Cache {
    rules: HashMap<String, Fragment, FastHash>,
}

/// A compiled expansion rule: code with jump targets relative to its start, and the sorted
/// words every match of it contains.
struct Fragment {
    program: Vec<Inst>,
    required: Vec<u32>,
}

/// What the templates of one block are compiled against.
pub(crate) struct Scope<'a> {
    pub rules: &'a NameMap<RuleDef>,
    pub local_rules: &'a NameMap<RuleDef>,
    pub local_lists: &'a NameMap<usize>,
    /// Whether rule fragments may be taken from and put into `Cache::rules`: only where no
    /// block-local rule or list can shadow what they refer to.
    pub shareable: bool,
}

pub(crate) struct Builder<'a> {
    c: &'a mut CompiledLanguage,
    scope: &'a Scope<'a>,
    template: &'a Template,
    cache: &'a mut Cache,
    s: &'a mut Scratch,
    /// Rules being expanded inline (only in blocks whose rules cannot be shared).
    rule_stack: Vec<String>,
}

impl<'a> Builder<'a> {
    pub fn new(
        c: &'a mut CompiledLanguage,
        scope: &'a Scope<'a>,
        template: &'a Template,
        cache: &'a mut Cache,
        s: &'a mut Scratch,
    ) -> Builder<'a> {
        Builder {
            c,
            scope,
            template,
            cache,
            s,
            rule_stack: Vec::new(),
        }
    }

    /// Compiles the template into the scratch buffers, ending with `Match`.
    pub fn template(&mut self) -> Result<()> {
        self.s.program.clear();
        self.s.required.clear();
        self.s.jumps.clear();
        let tree = &self.template.tree;
        self.emit(tree, tree.root())?;
        self.s.program.push(Inst::Match);
        Ok(())
    }

    /// The current end of the program, as a jump target.
    fn here(&self) -> u32 {
        self.s.program.len() as u32
    }

    /// Emits code for node `id` of `tree` and adds to `s.required` the token ids any match of
    /// it must contain (unsorted, possibly repeated).
    fn emit(&mut self, tree: &Tree, id: u32) -> Result<()> {
        if self.s.program.len() > MAX_PROGRAM {
            return Err(self.too_big(format!(
                "the template expands to more than {MAX_PROGRAM} steps"
            )));
        }
        match tree.node(id) {
            Node::Text(text) => self.emit_text(tree.text(text)),
            Node::Seq(items) => self.emit_seq(tree, tree.kids(items)),
            Node::Alt(items) => {
                let items = tree.kids(items);
                self.alt_with(items.len(), |b, i| b.emit(tree, items[i]))
            }
            Node::Perm(items) => {
                let items = tree.kids(items);
                if items.len() > MAX_PERMUTATION {
                    return Err(self.too_big(format!(
                        "a permutation (a;b;…) may have at most {MAX_PERMUTATION} items"
                    )));
                }
                let orders: Vec<Vec<u32>> = permutations(items.len())
                    .into_iter()
                    .map(|order| order.into_iter().map(|i| items[i]).collect())
                    .collect();
                self.alt_with(orders.len(), |b, i| b.emit_seq(tree, &orders[i]))
            }
            Node::List { name, slot } => {
                let (name, slot) = (tree.text(name), tree.text(slot));
                let list = match self
                    .scope
                    .local_lists
                    .get(name)
                    .or_else(|| self.c.list_names.get(name))
                {
                    Some(&l) => l,
                    None => {
                        // Unknown lists are dynamic: empty until `Recognizer::set_list` fills them.
                        let list = self.c.compile_list(ListDef::Values(Vec::new()));
                        self.c.lists.push(list);
                        let l = self.c.lists.len() - 1;
                        self.c.list_names.insert(name.to_string(), l);
                        l
                    }
                };
                let slot = self.c.slot_id(slot);
                self.s.program.push(Inst::Slot {
                    list: list as u32,
                    slot,
                });
                Ok(())
            }
            Node::Rule(name) => self.emit_rule(tree.text(name)),
        }
    }

    fn emit_text(&mut self, text: &str) -> Result<()> {
        let start = self.s.required.len();
        self.c.intern_into(text, &mut self.s.required);
        let ids = &self.s.required[start..];
        self.s.program.extend(ids.iter().map(|&id| Inst::Tok(id)));
        Ok(())
    }

    /// A sequence of nodes, glued into whole words first where text touches a group.
    fn emit_seq(&mut self, tree: &Tree, items: &[u32]) -> Result<()> {
        if self.c.split_letters || !needs_glue(tree, items) {
            for &item in items {
                self.emit(tree, item)?;
            }
            return Ok(());
        }
        for item in glue(tree, items) {
            match item {
                Glued::Node(id) => self.emit(tree, id)?,
                Glued::Text(text) => self.emit_text(&text)?,
                Glued::Alt(forms) => self.alt_with(forms.len(), |b, i| b.emit_text(&forms[i]))?,
            }
        }
        Ok(())
    }

    fn emit_rule(&mut self, name: &str) -> Result<()> {
        if self.rule_stack.len() >= MAX_RULE_DEPTH {
            return Err(self.too_big(format!(
                "expansion rules nested deeper than {MAX_RULE_DEPTH}"
            )));
        }
        if self.rule_stack.iter().any(|r| r == name) {
            return Err(NluError::RecursiveRule {
                location: self.template.location(),
                rule: name.to_string(),
            });
        }
        let scope = self.scope;
        let Some(rule) = scope
            .local_rules
            .get(name)
            .or_else(|| scope.rules.get(name))
        else {
            return Err(NluError::UnknownRule {
                location: self.template.location(),
                rule: name.to_string(),
            });
        };
        if !scope.shareable {
            self.rule_stack.push(name.to_string());
            let r = self.emit(&rule.tree, rule.tree.root());
            self.rule_stack.pop();
            return r;
        }
        if !self.cache.rules.contains_key(name) {
            let fragment = self.fragment(name, &rule.tree)?;
            self.cache.rules.insert(name.to_string(), fragment);
        }
        self.splice(name)
    }

    /// Compiles rule `name` on its own, as a fragment to splice wherever it is used.
    fn fragment(&mut self, name: &str, tree: &Tree) -> Result<Fragment> {
        let mut rule_stack = self.rule_stack.clone();
        rule_stack.push(name.to_string());
        let mut s = Scratch::default();
        let mut b = Builder {
            c: &mut *self.c,
            scope: self.scope,
            template: self.template,
            cache: &mut *self.cache,
            s: &mut s,
            rule_stack,
        };
        b.emit(tree, tree.root())?;
        let mut required = s.required;
        required.sort_unstable();
        required.dedup();
        Ok(Fragment {
            program: s.program,
            required,
        })
    }

    /// Appends the cached fragment of rule `name`, relocating its jumps.
    fn splice(&mut self, name: &str) -> Result<()> {
        let Some(f) = self.cache.rules.get(name) else {
            return Ok(());
        };
        if self.s.program.len() + f.program.len() > MAX_PROGRAM {
            return Err(self.too_big(format!(
                "the template expands to more than {MAX_PROGRAM} steps"
            )));
        }
        let base = self.here();
        self.s
            .program
            .extend(f.program.iter().map(|&inst| match inst {
                Inst::Split(a, b) => Inst::Split(a + base, b + base),
                Inst::Jmp(a) => Inst::Jmp(a + base),
                other => other,
            }));
        self.s.required.extend_from_slice(&f.required);
        Ok(())
    }

    fn too_big(&self, message: String) -> NluError {
        NluError::Template {
            location: self.template.location(),
            template: self.template.text().to_string(),
            message,
        }
    }

    /// Emits `n` alternatives (`each(i)` emits the `i`th) one after another; the words required
    /// are those every alternative requires (an in-place intersection on `s.required`).
    fn alt_with(
        &mut self,
        n: usize,
        mut each: impl FnMut(&mut Self, usize) -> Result<()>,
    ) -> Result<()> {
        let base = self.s.required.len();
        let jumps_base = self.s.jumps.len();
        // `required[base..acc]` is the sorted intersection of the alternatives so far.
        let mut acc: Option<usize> = None;
        for i in 0..n {
            let last = i + 1 == n;
            let split_at = self.s.program.len();
            if !last {
                self.s.program.push(Inst::Split(split_at as u32 + 1, 0));
            }
            let start = self.s.required.len();
            each(self, i)?;
            let req = &mut self.s.required;
            match acc {
                // An alternative that requires nothing: so does the group.
                Some(end) if end == base => req.truncate(base),
                _ => {
                    req[start..].sort_unstable();
                    let len = dedup_sorted(&mut req[start..]);
                    req.truncate(start + len);
                    acc = Some(match acc {
                        None => req.len(),
                        Some(end) => intersect_in_place(req, base, end),
                    });
                }
            }
            if !last {
                self.s.jumps.push(self.s.program.len());
                self.s.program.push(Inst::Jmp(0));
                let next = self.here();
                self.s.program[split_at] = Inst::Split(split_at as u32 + 1, next);
            }
        }
        let end = self.here();
        for j in self.s.jumps.drain(jumps_base..) {
            self.s.program[j] = Inst::Jmp(end);
        }
        Ok(())
    }
}

/// Removes repeats from a sorted slice, in place; returns the new length.
fn dedup_sorted(v: &mut [u32]) -> usize {
    let mut k = 0;
    for i in 0..v.len() {
        if k == 0 || v[i] != v[k - 1] {
            v[k] = v[i];
            k += 1;
        }
    }
    k
}

/// `v[base..mid]` and `v[mid..]` are sorted sets: leaves their intersection at `v[base..]`
/// and returns its end.
fn intersect_in_place(v: &mut Vec<u32>, base: usize, mid: usize) -> usize {
    let mut k = base;
    for i in base..mid {
        let x = v[i];
        if v[mid..].binary_search(&x).is_ok() {
            v[k] = x;
            k += 1;
        }
    }
    v.truncate(k);
    k
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for pos in 0..=p.len() {
            let mut q = p.clone();
            q.insert(pos, n - 1);
            out.push(q);
        }
    }
    out.sort();
    out
}
