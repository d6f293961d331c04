//! A YAML tree that knows where each of its nodes is written.
//!
//! The linter must point at the line and column of every problem, but
//! serde_yaml 0.9 has no spans: `serde_yaml::Value` forgets where things were.
//! serde_yaml does attach a position to two kinds of errors, and that is what
//! this module uses to recover positions:
//!
//! * syntax errors, unknown anchors and the nesting limit carry the libyaml
//!   mark of where they happened (`Error::location`);
//! * `deserialize_newtype_struct` *peeks* at the next event (it does not
//!   consume it) and checks the nesting limit with that event's mark. A probe
//!   seed that keeps asking for a newtype struct therefore exhausts the limit
//!   and fails with `recursion limit exceeded at line L column C` — the start of
//!   the node it stands on — without moving the parser. The same `SeqAccess` /
//!   `MapAccess` can then read that node for real.
//!
//! So one pass over the document reads every node and key together with its
//! position (1-based line and column, columns counted in characters; verified
//! by the tests below), in time linear in the document. An alias is located
//! where the alias (`*name`) is written, while the nodes inside it are located
//! at the anchored definition, which is where their text is.
//!
//! Unlike `serde_yaml::Value`, the tree keeps duplicate mapping keys (in
//! document order) so that the linter can report them with both positions
//! instead of stopping at the first.
//!
//! Reading never panics and stays fast on hostile input: the number of nodes
//! (aliases expanded) is capped, and deep flow nesting, which makes libyaml's
//! scanner quadratic, is refused before the full parse (see
//! [`too_many_open_brackets`] and [`deep_nesting`]).

use std::cell::Cell;
use std::convert::Infallible;
use std::fmt;
use std::sync::OnceLock;

use regex::Regex;
use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    pub const START: Pos = Pos { line: 1, column: 1 };
}

/// A YAML node and where it starts (its anchor or tag, if it has one; for a
/// block collection, its first entry).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    pub pos: Pos,
    pub value: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    /// A number, as Rust prints it (only used in messages).
    Number(String),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in document order, duplicates included.
    Map(Vec<Entry>),
    /// A value with an application tag such as `!foo` (`!!str` and the other
    /// core tags are resolved by serde_yaml and never appear here).
    Tagged(String, Box<Node>),
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    pub key: Node,
    pub value: Node,
}

/// A problem found while reading the YAML itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct YamlError {
    pub pos: Pos,
    pub message: String,
}

/// The outcome of [`read`]: the first document (if it could be read) and the
/// problems found. Both can be present (a second document is a problem, but
/// the first is still worth linting).
#[derive(Debug)]
pub(crate) struct Document {
    pub root: Option<Node>,
    pub errors: Vec<YamlError>,
}

/// At most this many nodes are built, aliases expanded. A manifest holds a few
/// hundred; this stops a small file with aliases of aliases from expanding into
/// gigabytes before the linter sees it.
pub(crate) const MAX_NODES: usize = 250_000;

/// Reads `src` as a single YAML document, with positions. Never panics: a
/// panic inside serde_yaml (none is known) is turned into an error.
pub(crate) fn read(src: &str) -> Document {
    // libyaml counts a byte order mark as a column of the first line.
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    if let Some(pos) = too_many_open_brackets(src) {
        return Document {
            root: None,
            errors: vec![YamlError {
                pos,
                message: format!(
                    "the YAML is nested too deeply (more than {MAX_OPEN_BRACKETS} brackets are open here)"
                ),
            }],
        };
    }
    std::panic::catch_unwind(|| match deep_nesting(src) {
        Some(error) => Document {
            root: None,
            errors: vec![error],
        },
        None => read_document(src, MAX_NODES),
    })
    .unwrap_or_else(|_| Document {
        root: None,
        errors: vec![YamlError {
            pos: Pos::START,
            message: "internal error while reading the YAML (please report this with the file)"
                .to_string(),
        }],
    })
}

fn read_document(src: &str, max_nodes: usize) -> Document {
    let cx = Cx {
        max_nodes,
        budget: Cell::new(max_nodes),
        over_budget: Cell::new(false),
    };
    let mut documents = serde_yaml::Deserializer::from_str(src);
    let Some(first) = documents.next() else {
        return Document {
            root: Some(Node {
                pos: Pos::START,
                value: Value::Null,
            }),
            errors: Vec::new(),
        };
    };
    let mut root = match (NodeSeed {
        pos: Pos::START,
        cx: &cx,
    })
    .deserialize(first)
    {
        Ok(root) => root,
        Err(err) => {
            return Document {
                root: None,
                errors: vec![yaml_error(&err, &cx)],
            }
        }
    };
    root.pos = match &root.value {
        // Where the first entry is written; for a block collection that is
        // also where libyaml places the collection itself.
        Value::Map(entries) if !entries.is_empty() => entries[0].key.pos,
        Value::Seq(items) if !items.is_empty() => items[0].pos,
        // Rare and small: locate it with a second (cheap) parse.
        _ => serde_yaml::Deserializer::from_str(src)
            .next()
            .and_then(document_pos)
            .unwrap_or(Pos::START),
    };
    let mut errors = Vec::new();
    if let Some(second) = documents.next() {
        let content = document_pos(second).unwrap_or(Pos::START);
        errors.push(YamlError {
            pos: document_marker(src, content),
            message: "a second YAML document starts here; a manifest is a single document \
                      (remove this '---' and what follows, or move it to its own file)"
                .to_string(),
        });
    }
    Document {
        root: Some(root),
        errors,
    }
}

/// See [`too_many_open_brackets`].
const MAX_OPEN_BRACKETS: usize = 1000;

/// libyaml's scanner does work proportional to the flow nesting depth for every
/// token, so `[[[[…` is quadratic: a 1 MiB file of brackets would take many
/// minutes, although serde_yaml refuses anything deeper than 128 levels after
/// the whole file has been scanned. This pre-check counts brackets crudely
/// (openers minus closers, quotes and comments not excluded), which only a
/// file far beyond any real manifest can trip, and returns where the count
/// first exceeds [`MAX_OPEN_BRACKETS`].
///
/// It is not a YAML tokenizer: closers hidden in quoted scalars can still
/// build deep nesting past it, but each level then costs several bytes, which
/// bounds the damage within the 1 MiB file limit.
fn too_many_open_brackets(src: &str) -> Option<Pos> {
    let mut open: usize = 0;
    let (mut line, mut column) = (1, 0);
    let mut after_cr = false;
    for c in src.chars() {
        column += 1;
        match c {
            '\n' if after_cr => column = 0,
            '\n' | '\r' => {
                line += 1;
                column = 0;
            }
            '[' | '{' => {
                open += 1;
                if open > MAX_OPEN_BRACKETS {
                    return Some(Pos { line, column });
                }
            }
            ']' | '}' => open = open.saturating_sub(1),
            _ => {}
        }
        after_cr = c == '\r';
    }
    None
}

/// Above this many `[` and `{`, [`deep_nesting`] checks prefixes first.
const MANY_OPENERS: usize = 500;
/// The first prefix [`deep_nesting`] parses, and the most it adds per step.
const FIRST_PREFIX: usize = 16 * 1024;
const MAX_PREFIX_STEP: usize = 32 * 1024;

const NESTED_TOO_DEEPLY: &str = "the YAML is nested too deeply (more than 128 levels)";

/// The nesting that [`too_many_open_brackets`] cannot see (closers hidden in
/// quoted scalars, such as `["]", ["]", …`) is found by parsing growing
/// prefixes of the file: serde_yaml stops at 128 levels when it *reads* the
/// events, but libyaml first scans the whole input, paying the flow depth for
/// every token. A prefix ends in a syntax error, but the events before the
/// cut are those of the whole file, so a prefix deeper than 128 levels fails
/// with the recursion limit instead. The first prefix that does holds at most
/// [`MAX_PREFIX_STEP`] bytes of deep nesting, which bounds libyaml's work.
///
/// Files with few brackets cannot nest deeply and skip this (so every real
/// manifest does).
fn deep_nesting(src: &str) -> Option<YamlError> {
    if src.bytes().filter(|b| matches!(b, b'[' | b'{')).count() <= MANY_OPENERS {
        return None;
    }
    let mut end = FIRST_PREFIX;
    while end < src.len() {
        let mut cut = end;
        while !src.is_char_boundary(cut) {
            cut -= 1;
        }
        let budget = Cell::new(MAX_NODES);
        for document in serde_yaml::Deserializer::from_str(&src[..cut]) {
            match (Skip { budget: &budget }).deserialize(document) {
                Ok(()) => {}
                Err(err) if err.to_string().starts_with("recursion limit exceeded") => {
                    return Some(YamlError {
                        pos: err.location().map_or(Pos::START, |l| Pos {
                            line: l.line(),
                            column: l.column(),
                        }),
                        message: NESTED_TOO_DEEPLY.to_string(),
                    });
                }
                Err(_) => break,
            }
        }
        end = (end * 2).min(end + MAX_PREFIX_STEP);
    }
    None
}

/// Reads a document without keeping anything, so that serde_yaml applies its
/// nesting limit. Stops after `budget` nodes (aliases can repeat a lot).
#[derive(Clone, Copy)]
struct Skip<'a> {
    budget: &'a Cell<usize>,
}

impl<'de> DeserializeSeed<'de> for Skip<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        match self.budget.get().checked_sub(1) {
            Some(left) => self.budget.set(left),
            None => return Err(de::Error::custom("too many nodes")),
        }
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        Ok(())
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(self)?.is_some() {
            map.next_value_seed(self)?;
        }
        Ok(())
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        let (_, contents) = data.variant::<de::IgnoredAny>()?;
        contents.newtype_variant_seed(self)
    }
}

/// Where the content of a document starts.
fn document_pos(document: serde_yaml::Deserializer<'_>) -> Option<Pos> {
    let reached = Cell::new(false);
    match (Probe { reached: &reached }).deserialize(document) {
        Err(err) if reached.get() => err.location().map(|l| Pos {
            line: l.line(),
            column: l.column(),
        }),
        _ => None,
    }
}

/// The `---` line that opens the document whose content is at `content`
/// (searching back, not past a `...` end marker), or `content` itself.
fn document_marker(src: &str, content: Pos) -> Pos {
    let lines: Vec<&str> = yaml_lines(src).take(content.line).collect();
    for (index, line) in lines.iter().enumerate().rev() {
        if line.starts_with("---") {
            return Pos {
                line: index + 1,
                column: 1,
            };
        }
        if line.starts_with("...") {
            break;
        }
    }
    content
}

/// Lines as YAML (and libyaml) counts them: broken at `\r\n`, `\n` or a lone `\r`.
fn yaml_lines(src: &str) -> impl Iterator<Item = &str> {
    src.split('\n')
        .flat_map(|line| line.strip_suffix('\r').unwrap_or(line).split('\r'))
}

fn yaml_error(err: &serde_yaml::Error, cx: &Cx) -> YamlError {
    let pos = err.location().map_or(Pos::START, |l| Pos {
        line: l.line(),
        column: l.column(),
    });
    let text = err.to_string();
    let message = if cx.over_budget.get() {
        format!(
            "the manifest holds more than {} values (aliases expanded); a manifest lists \
             a few hundred images, so check the file and its aliases ('*name')",
            cx.max_nodes
        )
    } else if text.starts_with("recursion limit exceeded") {
        NESTED_TOO_DEEPLY.to_string()
    } else if text.starts_with("repetition limit exceeded") {
        "aliases ('*name') are expanded too many times; use fewer aliases".to_string()
    } else if text.starts_with("unknown anchor") {
        "this alias refers to an anchor that is not defined before it (define it with '&name' first)"
            .to_string()
    } else {
        syntax_message(&text)
    };
    YamlError { pos, message }
}

/// Turns a libyaml message such as
/// `did not find expected ',' or ']' at line 2 column 1, while parsing a flow
/// sequence at line 1 column 4` into one line without the (already reported)
/// position, keeping where the enclosing construct starts, plus a hint for the
/// usual causes.
fn syntax_message(text: &str) -> String {
    static SHAPE: OnceLock<Option<Regex>> = OnceLock::new();
    let shape = SHAPE.get_or_init(|| {
        Regex::new(
            r"(?s)^(?P<problem>.*?)(?: at line \d+ column \d+| at position \d+)?(?:, (?P<context>while .*?)(?: at line (?P<line>\d+) column (?P<column>\d+))?)?$",
        )
        .ok()
    });
    let one_line = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let Some(caps) = shape.as_ref().and_then(|re| re.captures(text)) else {
        return format!("YAML syntax error: {}", one_line(text));
    };
    let problem = one_line(caps.name("problem").map_or(text, |m| m.as_str()));
    let mut message = format!("YAML syntax error: {problem}");
    if let Some(context) = caps.name("context") {
        message.push_str(" (");
        message.push_str(&one_line(context.as_str()));
        if let (Some(line), Some(column)) = (caps.name("line"), caps.name("column")) {
            message.push_str(&format!(
                " that starts at line {}, column {}",
                line.as_str(),
                column.as_str()
            ));
        }
        message.push(')');
    }
    let hint = if problem.contains("mapping values are not allowed") {
        "; check the indentation, and quote values that contain ': '"
    } else if problem.contains("cannot start any token") {
        "; YAML is indented with spaces, not tabs, and values starting with '@' or '`' must be quoted"
    } else if problem.contains("did not find expected key")
        || problem.contains("did not find expected '-' indicator")
    {
        "; check the indentation"
    } else if problem.contains("end of stream") && message.contains("quoted scalar") {
        "; a quote is not closed"
    } else {
        ""
    };
    message.push_str(hint);
    message
}

/// Shared state of one read: the node budget.
struct Cx {
    max_nodes: usize,
    budget: Cell<usize>,
    over_budget: Cell<bool>,
}

/// Reads one node (recursively) at a position its parent has probed.
struct NodeSeed<'a> {
    pos: Pos,
    cx: &'a Cx,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_> {
    type Value = Node;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        match self.cx.budget.get().checked_sub(1) {
            Some(left) => self.cx.budget.set(left),
            None => {
                self.cx.over_budget.set(true);
                return Err(de::Error::custom("too many nodes"));
            }
        }
        let value = deserializer.deserialize_any(ValueVisitor {
            pos: self.pos,
            cx: self.cx,
        })?;
        Ok(Node {
            pos: self.pos,
            value,
        })
    }
}

struct ValueVisitor<'a> {
    pos: Pos,
    cx: &'a Cx,
}

impl<'de> Visitor<'de> for ValueVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.to_string()))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Number(v.to_string()))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Ok(Value::Number(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Number(v.to_string()))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Str(String::from_utf8_lossy(v).into_owned()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        (NodeSeed {
            pos: self.pos,
            cx: self.cx,
        })
        .deserialize(deserializer)
        .map(|node| node.value)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Value, D::Error> {
        self.visit_some(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let reached = Cell::new(false);
            let pos = match seq.next_element_seed(Probe { reached: &reached }) {
                Ok(None) => break,
                Ok(Some(never)) => match never {},
                Err(err) if reached.get() => probed_pos(&err).unwrap_or(self.pos),
                Err(err) => return Err(err),
            };
            match seq.next_element_seed(NodeSeed { pos, cx: self.cx })? {
                Some(node) => items.push(node),
                None => break,
            }
        }
        Ok(Value::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        loop {
            let reached = Cell::new(false);
            let key_pos = match map.next_key_seed(Probe { reached: &reached }) {
                Ok(None) => break,
                Ok(Some(never)) => match never {},
                Err(err) if reached.get() => probed_pos(&err).unwrap_or(self.pos),
                Err(err) => return Err(err),
            };
            let Some(key) = map.next_key_seed(NodeSeed {
                pos: key_pos,
                cx: self.cx,
            })?
            else {
                break;
            };
            let reached = Cell::new(false);
            let value_pos = match map.next_value_seed(Probe { reached: &reached }) {
                Ok(never) => match never {},
                Err(err) if reached.get() => probed_pos(&err).unwrap_or(key_pos),
                Err(err) => return Err(err),
            };
            let value = map.next_value_seed(NodeSeed {
                pos: value_pos,
                cx: self.cx,
            })?;
            entries.push(Entry { key, value });
        }
        Ok(Value::Map(entries))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        let (tag, contents) = data.variant::<String>()?;
        let inner = contents.newtype_variant_seed(NodeSeed {
            pos: self.pos,
            cx: self.cx,
        })?;
        Ok(Value::Tagged(tag, Box::new(inner)))
    }
}

/// Stands on a node without consuming it and fails with its position (see the
/// module documentation). `reached` tells a probe failure from a real error
/// raised before the probe got to run (such as a syntax error further on).
struct Probe<'a> {
    reached: &'a Cell<bool>,
}

const PROBE: &str = "tagsweep-locate-probe";

impl<'de> DeserializeSeed<'de> for Probe<'_> {
    type Value = Infallible;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Infallible, D::Error> {
        deserializer.deserialize_newtype_struct(PROBE, self)
    }
}

impl<'de> Visitor<'de> for Probe<'_> {
    type Value = Infallible;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a position probe")
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Infallible, D::Error> {
        self.reached.set(true);
        deserializer.deserialize_newtype_struct(PROBE, self)
    }
}

/// The position in a probe's error. Inside `visit_seq`/`visit_map` the error
/// type is generic, so `serde_yaml::Error::location` is out of reach and the
/// message is read instead: `recursion limit exceeded at line L column C`, or
/// no position at all when the mark is line 1, column 1 (serde_yaml omits it).
fn probed_pos(err: &impl fmt::Display) -> Option<Pos> {
    let text = err.to_string();
    let rest = text.strip_prefix("recursion limit exceeded")?;
    if rest.is_empty() {
        return Some(Pos::START);
    }
    let rest = rest.strip_prefix(" at line ")?;
    let (line, column) = rest.split_once(" column ")?;
    Some(Pos {
        line: line.parse().ok()?,
        column: column.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(src: &str) -> Node {
        let doc = read(src);
        assert!(doc.errors.is_empty(), "{:?}", doc.errors);
        doc.root.expect("a root")
    }

    fn at(line: usize, column: usize) -> Pos {
        Pos { line, column }
    }

    fn entries(node: &Node) -> &[Entry] {
        match &node.value {
            Value::Map(entries) => entries,
            other => panic!("not a mapping: {other:?}"),
        }
    }

    fn items(node: &Node) -> &[Node] {
        match &node.value {
            Value::Seq(items) => items,
            other => panic!("not a sequence: {other:?}"),
        }
    }

    /// (key position, value position) of each entry.
    fn entry_positions(node: &Node) -> Vec<(Pos, Pos)> {
        entries(node)
            .iter()
            .map(|e| (e.key.pos, e.value.pos))
            .collect()
    }

    fn item_positions(node: &Node) -> Vec<Pos> {
        items(node).iter().map(|n| n.pos).collect()
    }

    #[test]
    fn block_style_positions_are_one_based() {
        let doc = root("namespace: linaro\nimages:\n  - a\n  - b\n");
        assert_eq!(doc.pos, at(1, 1));
        assert_eq!(
            entry_positions(&doc),
            vec![(at(1, 1), at(1, 12)), (at(2, 1), at(3, 3))]
        );
        assert_eq!(
            item_positions(&entries(&doc)[1].value),
            vec![at(3, 5), at(4, 5)]
        );
    }

    #[test]
    fn unindented_block_sequence() {
        let doc = root("images:\n- a\n- b\n");
        assert_eq!(
            item_positions(&entries(&doc)[0].value),
            vec![at(2, 3), at(3, 3)]
        );
    }

    #[test]
    fn flow_style_positions() {
        let doc = root("images: [a, bb, c]\nbuilds: {pattern: x, grace: 2h}\n");
        let images = &entries(&doc)[0].value;
        assert_eq!(images.pos, at(1, 9));
        assert_eq!(
            item_positions(images),
            vec![at(1, 10), at(1, 13), at(1, 17)]
        );
        assert_eq!(
            entry_positions(&entries(&doc)[1].value),
            vec![(at(2, 10), at(2, 19)), (at(2, 22), at(2, 29))]
        );
    }

    #[test]
    fn quoted_scalars_start_at_the_quote() {
        let doc = root("images:\n  - 'a'\n  - \"b\"\n  - |\n    c\n'key': v\n");
        assert_eq!(
            item_positions(&entries(&doc)[0].value),
            vec![at(2, 5), at(3, 5), at(4, 5)]
        );
        assert_eq!(entries(&doc)[1].key.pos, at(6, 1));
        assert_eq!(entries(&doc)[1].key.value, Value::Str("key".into()));
    }

    #[test]
    fn aliases_are_located_where_the_alias_is_written() {
        let doc = root("x: &k foo\nimages:\n  - a\n  - *k\n  - &m {name: b}\n  - *m\n");
        let images = &entries(&doc)[1].value;
        assert_eq!(entries(&doc)[0].value.pos, at(1, 4));
        assert_eq!(
            item_positions(images),
            vec![at(3, 5), at(4, 5), at(5, 5), at(6, 5)]
        );
        assert_eq!(items(images)[1].value, Value::Str("foo".into()));
        // The inside of an aliased mapping is where its text is: the anchor.
        let aliased = &items(images)[3];
        assert_eq!(entry_positions(aliased), vec![(at(5, 9), at(5, 15))]);
    }

    #[test]
    fn columns_count_characters_and_ignore_crlf_and_bom() {
        let doc = root("\u{feff}images: [é, ü, c]\r\nx: y\r\n");
        assert_eq!(
            item_positions(&entries(&doc)[0].value),
            vec![at(1, 10), at(1, 13), at(1, 16)]
        );
        assert_eq!(entry_positions(&doc)[1], (at(2, 1), at(2, 4)));
    }

    #[test]
    fn keeps_duplicate_keys_tags_and_odd_scalars() {
        let doc = root("a: 1\na: true\n? [x]\n: ~\n!foo b: !bar {c: d}\nbin: !!binary aGVsbG8=\nn: 123456789012345678901234567890\n");
        let e = entries(&doc);
        assert_eq!(e.len(), 6);
        assert_eq!(e[0].value.value, Value::Number("1".into()));
        assert_eq!(e[1].key.pos, at(2, 1));
        assert_eq!(e[1].value.value, Value::Bool(true));
        assert!(matches!(e[2].key.value, Value::Seq(_)));
        assert_eq!(e[2].key.pos, at(3, 3));
        assert_eq!(e[2].value.value, Value::Null);
        assert!(matches!(&e[3].key.value, Value::Tagged(tag, _) if tag == "foo"));
        assert!(
            matches!(&e[3].value.value, Value::Tagged(tag, inner) if tag == "bar" && matches!(inner.value, Value::Map(_)))
        );
        assert_eq!(e[4].value.value, Value::Str("aGVsbG8=".into()));
        assert!(matches!(&e[5].value.value, Value::Number(_)));
    }

    #[test]
    fn empty_documents_are_null() {
        for src in ["", "# only a comment\n", "---\n", "\n\n"] {
            assert_eq!(root(src).value, Value::Null, "{src:?}");
        }
    }

    #[test]
    fn syntax_errors_are_one_line_with_position() {
        let err = |src: &str| {
            let doc = read(src);
            assert!(doc.root.is_none());
            assert_eq!(doc.errors.len(), 1);
            doc.errors[0].clone()
        };
        assert_eq!(
            err("a: [b\n"),
            YamlError {
                pos: at(2, 1),
                message: "YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence that starts at line 1, column 4)".into()
            }
        );
        assert_eq!(
            err("a: b\n  c: d\n"),
            YamlError {
                pos: at(2, 4),
                message: "YAML syntax error: mapping values are not allowed in this context; check the indentation, and quote values that contain ': '".into()
            }
        );
        assert_eq!(
            err("@bad"),
            YamlError {
                pos: at(1, 1),
                message: "YAML syntax error: found character that cannot start any token (while scanning for the next token); YAML is indented with spaces, not tabs, and values starting with '@' or '`' must be quoted".into()
            }
        );
        assert_eq!(err("key: 'open\n").message, "YAML syntax error: found unexpected end of stream (while scanning a quoted scalar that starts at line 1, column 6); a quote is not closed");
        assert_eq!(
            err("a: *nothing\n"),
            YamlError {
                pos: at(1, 4),
                message: "this alias refers to an anchor that is not defined before it (define it with '&name' first)".into()
            }
        );
    }

    #[test]
    fn a_second_document_is_reported_at_its_marker() {
        let doc = read("a: b\n---\nc: d\n");
        assert!(doc.root.is_some());
        assert_eq!(doc.errors.len(), 1);
        assert_eq!(doc.errors[0].pos, at(2, 1));
        assert!(doc.errors[0]
            .message
            .starts_with("a second YAML document starts here;"));
        assert_eq!(read("---\na: b\n--- x\n").errors[0].pos, at(3, 1));
        assert_eq!(read("a: b\n---\n").errors[0].pos, at(2, 1));
        assert!(read("---\na: b\n...\n").errors.is_empty());
        assert_eq!(read("a: b\r\n---\r\nc: d\r\n").errors[0].pos, at(2, 1));
        assert_eq!(read("a: b\r---\rc: d\r").errors[0].pos, at(2, 1));
    }

    #[test]
    fn limits_are_errors_not_crashes() {
        let deep = format!("a: {}{}", "[".repeat(200), "]".repeat(200));
        let doc = read(&deep);
        assert_eq!(
            doc.errors[0].message,
            "the YAML is nested too deeply (more than 128 levels)"
        );
        assert_eq!(doc.errors[0].pos, at(1, 131));
        let deeper = format!("a:\r\n\r  {}", "[".repeat(1_000_000));
        let doc = read(&deeper);
        assert_eq!(
            doc.errors,
            vec![YamlError {
                pos: at(3, 1003),
                message: "the YAML is nested too deeply (more than 1000 brackets are open here)"
                    .into()
            }]
        );
        // Closers hidden in quotes get past the bracket count, not past the
        // prefix check (this took minutes before it).
        let hidden = format!("a: {}", "[\"]\", ".repeat(200_000));
        let doc = read(&hidden);
        assert_eq!(
            doc.errors,
            vec![YamlError {
                pos: at(1, 766),
                message: NESTED_TOO_DEEPLY.into()
            }]
        );
        let block: String = (0..200).map(|i| format!("{}- \n", " ".repeat(i))).collect();
        assert_eq!(
            read(&block).errors[0].message,
            "the YAML is nested too deeply (more than 128 levels)"
        );
        let deep_maps = format!("{}x", "{a: ".repeat(500));
        assert_eq!(read(&deep_maps).errors.len(), 1);
        // A billion laughs stops at the node budget.
        let mut laughs = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (name, prev) in ["b", "c", "d", "e", "f", "g", "h", "i"]
            .iter()
            .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
        {
            laughs.push_str(&format!("{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        }
        let doc = read_document(&laughs, 20_000);
        assert!(doc.root.is_none());
        assert_eq!(doc.errors.len(), 1, "{:?}", doc.errors);
        assert!(doc.errors[0]
            .message
            .starts_with("the manifest holds more than"));
        let small = read_document("[a, b, c]", 3);
        assert!(small.errors[0]
            .message
            .starts_with("the manifest holds more than"));
    }

    #[test]
    fn probe_positions_parse() {
        assert_eq!(probed_pos(&"recursion limit exceeded"), Some(at(1, 1)));
        assert_eq!(
            probed_pos(&"recursion limit exceeded at line 3 column 5"),
            Some(at(3, 5))
        );
        assert_eq!(probed_pos(&"something else"), None);
    }
}
