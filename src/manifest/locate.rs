//! A YAML tree that knows where each of its nodes is written.
//!
//! The linter must point at the line and column of every problem, and a
//! deserializer such as `serde_yaml` forgets where things were. This module
//! reads the manifest with `saphyr-parser`, a maintained YAML parser whose
//! events carry their spans, and builds a small tree from them: every value,
//! key and list item with its 1-based line and column (columns count
//! characters, not bytes). It is the only place that knows YAML syntax.
//!
//! The linter was first written on serde_yaml 0.9 (libyaml), and what it
//! says about valid manifests is a contract (`tagsweep validate` runs in
//! pull requests), so the tree keeps the rules it had then:
//!
//! * scalars are typed by serde_yaml 0.9 itself ([`serde_yaml_scalar`]): YAML
//!   1.2 core schema, so `yes`, `no` and `0755` are strings, `0x1F` is the
//!   number 31, anything quoted is a string, and `!!bool yes` is an error in
//!   serde_yaml's words. serde_yaml is archived upstream; that function is
//!   the only place that uses it;
//! * a node is where its anchor, tag or first character is (a block scalar
//!   at its `|` or `>`, an empty list item where its `-` ends), a block
//!   collection where its first entry is; an alias is where `*name` is
//!   written, while the nodes inside it are at the anchored definition, which
//!   is where their text is;
//! * duplicate mapping keys are kept, in document order, so that the linter
//!   can report them with both positions instead of stopping at the first;
//! * a tab after a `:` is a blank, as in YAML (saphyr-parser 0.3 refuses it:
//!   see [`tabs_after_colons_as_spaces`]).
//!
//! Malformed YAML is reported in saphyr-parser's words and at its position,
//! as one line with what was being read (`did not find expected key (while
//! parsing a block mapping)`); the most common errors keep libyaml's words
//! and the hints that go with them (an unclosed bracket or quote with where
//! it opens, a tab or an `@` that cannot start a token). A control character
//! is refused where it is, and anything after the first document is an
//! error. The two parsers differ on some malformed input (one of them
//! refusing what the other accepts, such as a byte order mark inside a
//! document, which YAML 1.2 forbids); valid manifests read the same.
//!
//! Reading never panics and stays fast on hostile input: more than 1000 open
//! brackets are refused before parsing, nesting stops at 128 levels, and the
//! number of nodes (aliases expanded) at [`MAX_NODES`].

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, ScanError, Span, StrInput, Tag};

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Pos {
    pub line: usize,
    pub column: usize,
}

impl From<Pos> for super::Location {
    fn from(pos: Pos) -> Self {
        super::Location {
            line: pos.line,
            column: pos.column,
        }
    }
}

impl Pos {
    /// The first character of the file.
    pub const START: Pos = Pos { line: 1, column: 1 };

    fn of(marker: Marker) -> Pos {
        Pos {
            line: marker.line(),
            column: marker.col() + 1,
        }
    }
}

/// A YAML node and where it starts (its anchor or tag, if it has one; for a
/// block collection, its first entry).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    pub pos: Pos,
    pub value: Value,
}

/// What a [`Node`] holds.
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
    /// core tags are resolved and never appear here).
    Tagged(String, Box<Node>),
}

/// One `key: value` of a mapping.
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

/// How many collections may be nested (the top level counts as one).
const MAX_DEPTH: u8 = 128;

const NESTED_TOO_DEEPLY: &str = "the YAML is nested too deeply (more than 128 levels)";

/// Reads `src` as a single YAML document, with positions. Never panics: a
/// panic inside the parser (none is known) is turned into an error.
pub(crate) fn read(src: &str) -> Document {
    // Positions are counted from the first character after a byte order mark.
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    if let Some(error) = refused(src) {
        return Document {
            root: None,
            errors: vec![error],
        };
    }
    std::panic::catch_unwind(|| read_document(src, MAX_NODES)).unwrap_or_else(|_| Document {
        root: None,
        errors: vec![YamlError {
            pos: Pos::START,
            message: "internal error while reading the YAML (please report this with the file)"
                .to_string(),
        }],
    })
}

/// Reads `src` (after its byte order mark, if any), building at most
/// `max_nodes` nodes.
fn read_document(src: &str, max_nodes: usize) -> Document {
    read_events(src, max_nodes, true)
}

/// See [`refused`].
const MAX_OPEN_BRACKETS: usize = 1000;

/// What is refused before parsing, at the character where it is: a character
/// that YAML does not allow in a file (a control character), and more than
/// [`MAX_OPEN_BRACKETS`] brackets open at once, which is far beyond any real
/// manifest. The bracket count is crude (openers minus closers, quotes and
/// comments not excluded); the nesting limit stops the rest.
fn refused(src: &str) -> Option<YamlError> {
    let mut open: usize = 0;
    let mut pos = Pos { line: 1, column: 0 };
    let mut after_cr = false;
    for c in src.chars() {
        pos.column += 1;
        match c {
            '\n' if after_cr => pos.column = 0,
            '\n' | '\r' => {
                pos.line += 1;
                pos.column = 0;
            }
            '[' | '{' => {
                open += 1;
                if open > MAX_OPEN_BRACKETS {
                    return Some(YamlError {
                        pos,
                        message: format!(
                            "the YAML is nested too deeply (more than {MAX_OPEN_BRACKETS} brackets are open here)"
                        ),
                    });
                }
            }
            ']' | '}' => open = open.saturating_sub(1),
            _ if !is_printable(c) => {
                return Some(YamlError {
                    pos,
                    message: syntax_message("control characters are not allowed", None),
                })
            }
            _ => {}
        }
        after_cr = c == '\r';
    }
    None
}

/// Whether YAML allows `c` in a file (its printable characters).
fn is_printable(c: char) -> bool {
    matches!(c,
        '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{a0}'..='\u{d7ff}'
        | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

const TAB_AFTER_COLON: &str = "':' must be followed by a valid YAML whitespace";

/// saphyr-parser 0.3 refuses a tab as the only blank between a `:` and a
/// value (`key:\tvalue`), which YAML allows (tabs separate tokens within a
/// line) and libyaml read. This is `src` with the tabs that follow a `:`
/// replaced by spaces, except those inside quoted and block scalars, where
/// they are text: the same columns, and the same values. `None` when there
/// are no such tabs.
fn tabs_after_colons_as_spaces(src: &str) -> Option<String> {
    let mut after_colon = false;
    let mut tabs = Vec::new();
    for (i, b) in src.bytes().enumerate() {
        match b {
            b'\t' if after_colon => tabs.push(i),
            _ => after_colon = b == b':',
        }
    }
    if tabs.is_empty() {
        return None;
    }
    let mut spaced = src.as_bytes().to_vec();
    for &i in &tabs {
        spaced[i] = b' ';
    }
    let spaced = String::from_utf8(spaced).ok()?;
    // Where quoted and block scalars are once the tabs are spaces, in order.
    let text = Source::new(&spaced);
    let mut content = Vec::new();
    for event in Parser::new_from_str(&spaced) {
        match event {
            Ok((Event::Scalar(_, style, ..), span)) if style != ScalarStyle::Plain => {
                content.push(text.byte(span.start.index())..text.byte(span.end.index()));
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let mut spaced = spaced.into_bytes();
    let mut scalars = content.iter().peekable();
    for &i in &tabs {
        while scalars.next_if(|scalar| scalar.end <= i).is_some() {}
        if scalars.peek().is_some_and(|scalar| scalar.contains(&i)) {
            spaced[i] = b'\t';
        }
    }
    String::from_utf8(spaced).ok()
}

/// Reads `src`; `respace`: whether to read it again with the tabs after `:`
/// as spaces when the parser refuses them (see
/// [`tabs_after_colons_as_spaces`]).
fn read_events(src: &str, max_nodes: usize, respace: bool) -> Document {
    let text = Source::new(src);
    let mut parser = Parser::new_from_str(src);
    let failed = |error: YamlError| Document {
        root: None,
        errors: vec![error],
    };
    let first = load(&mut parser, &text);
    if respace && first.tab_after_colon {
        if let Some(spaced) = tabs_after_colons_as_spaces(src) {
            return read_events(&spaced, max_nodes, false);
        }
    }
    let mut builder = Builder {
        events: &first,
        text: &text,
        budget: max_nodes,
        jumps: 0,
        plain: HashMap::new(),
    };
    let cx = Cx {
        depth: MAX_DEPTH,
        tagged: false,
        flow: false,
        path: &Path::Root,
    };
    let mut root = match builder.node(&mut 0, Pos::START, cx) {
        Ok(root) => root,
        Err(failure) => return failed(failure.into_error(max_nodes)),
    };
    if let Some(error) = first.error {
        return failed(error);
    }
    root.pos = match &root.value {
        // Where the first entry is written; for a block collection that is
        // also where the collection itself starts.
        Value::Map(entries) if !entries.is_empty() => entries[0].key.pos,
        Value::Seq(items) if !items.is_empty() => items[0].pos,
        _ => start_of(&first, &text, 0, Place::Other),
    };
    // Whatever follows the first document is a problem: at its `---` (or its
    // first character after a `...`), or where the parser stops.
    let errors = match parser.next_event() {
        Some(Ok((Event::DocumentStart(_), span))) => vec![YamlError {
            pos: Pos::of(span.start),
            message: "a second YAML document starts here; a manifest is a single document \
                      (remove this '---' and what follows, or move it to its own file)"
                .to_string(),
        }],
        Some(Err(err)) => vec![syntax_error(&err, &[], &text)],
        _ => Vec::new(),
    };
    Document {
        root: Some(root),
        errors,
    }
}

/// The events of one document, in order, as the tree is built from them.
struct Events<'a> {
    /// Node events only (no stream or document markers). `Event::Nothing`
    /// stands for the missing content of an empty stream.
    list: Vec<(Event<'a>, Span)>,
    /// Where each anchor (by the parser's id) is defined: an index in `list`.
    anchors: HashMap<usize, usize>,
    /// Why the events stop before the document ends, if they do.
    error: Option<YamlError>,
    /// Whether the parser refused a tab after a `:` (see
    /// [`tabs_after_colons_as_spaces`]).
    tab_after_colon: bool,
}

/// A collection whose end has not been read yet, for error messages.
struct Open {
    /// Where its `[`, `{`, first `-` or first key is.
    token: Pos,
    kind: Kind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    FlowSequence,
    FlowMapping,
    BlockSequence,
    BlockMapping,
}

impl Kind {
    fn is_flow(self) -> bool {
        matches!(self, Kind::FlowSequence | Kind::FlowMapping)
    }

    /// The parser's words for a collection being read, in its messages.
    fn of_context(context: &str) -> Option<Kind> {
        match context {
            "while parsing a flow sequence" => Some(Kind::FlowSequence),
            "while parsing a flow mapping" => Some(Kind::FlowMapping),
            "while parsing a block collection" => Some(Kind::BlockSequence),
            "while parsing a block mapping" => Some(Kind::BlockMapping),
            _ => None,
        }
    }
}

/// Reads the events of the stream's first document. An empty stream is one
/// empty node.
fn load<'a>(parser: &mut Parser<'a, StrInput<'a>>, text: &Source<'a>) -> Events<'a> {
    let mut events = Events {
        list: Vec::new(),
        anchors: HashMap::new(),
        error: None,
        tab_after_colon: false,
    };
    let mut open: Vec<Open> = Vec::new();
    loop {
        let (event, span) = match parser.next_event() {
            Some(Ok(next)) => next,
            None => (Event::StreamEnd, Span::empty(Marker::new(0, 1, 0))),
            Some(Err(err)) if err.info() == "recursion limit exceeded" => {
                return before_overflow(&err, text);
            }
            Some(Err(err)) => {
                events.tab_after_colon = err.info() == TAB_AFTER_COLON;
                events.error = Some(syntax_error(&err, &open, text));
                return events;
            }
        };
        match &event {
            Event::StreamStart | Event::DocumentStart(_) | Event::Nothing => continue,
            Event::DocumentEnd => return events,
            Event::StreamEnd => {
                if events.list.is_empty() {
                    events.list.push((Event::Nothing, span));
                }
                return events;
            }
            Event::Scalar(_, _, anchor, _) => {
                if *anchor > 0 {
                    events.anchors.insert(*anchor, events.list.len());
                }
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if *anchor > 0 {
                    events.anchors.insert(*anchor, events.list.len());
                }
                let bracket = matches!(text.char_before(span.end), Some('[' | '{'));
                let flow = bracket || open.last().is_some_and(|o| o.kind.is_flow());
                let kind = match (matches!(event, Event::SequenceStart(..)), flow) {
                    (true, true) => Kind::FlowSequence,
                    (true, false) => Kind::BlockSequence,
                    (false, true) => Kind::FlowMapping,
                    (false, false) => Kind::BlockMapping,
                };
                // The `[` or `{` is the character before the span's end; a
                // block collection's token is empty, where its first entry is.
                let token = if bracket {
                    Pos {
                        line: span.end.line(),
                        column: span.end.col(),
                    }
                } else {
                    Pos::of(span.end)
                };
                open.push(Open { token, kind });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                open.pop();
            }
            Event::Alias(_) => {}
        }
        events.list.push((event, span));
    }
}

const UNKNOWN_ANCHOR: &str =
    "this alias refers to an anchor that is not defined before it (define it with '&name' first)";

/// The parser's error as a one-line message, with where the collection it
/// interrupts starts. The most common ones are worded as libyaml worded them,
/// as they always were, for the hints of [`syntax_message`].
fn syntax_error(err: &ScanError, open: &[Open], text: &Source<'_>) -> YamlError {
    let at = Pos::of(*err.marker());
    let info = err.info();
    let cannot_start = "found character that cannot start any token";
    let scanning = Some("while scanning for the next token");
    // The problem, where it is, and what was being read (with where that
    // starts, if it is not the innermost collection still open).
    let (problem, pos, context, start) = match info {
        "while parsing node, found unknown anchor" => {
            return YamlError {
                pos: at,
                message: UNKNOWN_ANCHOR.to_string(),
            }
        }
        "while parsing a flow sequence, expected ',' or ']'" => (
            "did not find expected ',' or ']'",
            at,
            Some("while parsing a flow sequence"),
            None,
        ),
        // Reported where the text ends, with where the quote opens.
        "while scanning a quoted scalar, found unexpected end of stream" => (
            "found unexpected end of stream",
            text.end(),
            Some("while scanning a quoted scalar"),
            Some(at),
        ),
        // At the tab, not after it.
        "tabs disallowed within this context (block indentation)" => {
            let tab = text.first_tab_before(*err.marker()).unwrap_or(at);
            (cannot_start, tab, scanning, None)
        }
        _ if info.starts_with("unexpected character") => (cannot_start, at, scanning, None),
        "simple key expect ':'" | "simple key expected" => (
            "could not find expected ':'",
            at,
            Some("while scanning a simple key"),
            None,
        ),
        // `while parsing X, Y` reads `Y (while parsing X)`.
        _ => match info.split_once(", ") {
            Some((context, problem)) if context.starts_with("while ") => {
                (problem, at, Some(context), None)
            }
            _ => (info, at, None, None),
        },
    };
    let context = context.map(|context| {
        let start = start.or_else(|| {
            let kind = Kind::of_context(context)?;
            open.last().filter(|o| o.kind == kind).map(|o| o.token)
        });
        (
            context,
            start.filter(|&start| start != pos && start != Pos::START),
        )
    });
    YamlError {
        pos,
        message: syntax_message(problem, context),
    }
}

/// The parser stops at 255 open flow collections, and may find that out
/// before it has handed over the first of them (it looks ahead for a `:` that
/// would make them keys). The nesting limit must still be reported where the
/// tree first goes too deep, as for shallower input: the events are those of
/// the text up to the parser's error, which holds that place.
fn before_overflow<'a>(err: &ScanError, text: &Source<'a>) -> Events<'a> {
    let prefix = &text.text[..text.byte(err.marker().index())];
    let mut parser = Parser::new_from_str(prefix);
    let mut events = load(&mut parser, &Source::new(prefix));
    events.error = Some(YamlError {
        pos: Pos::of(*err.marker()),
        message: NESTED_TOO_DEEPLY.to_string(),
    });
    events
}

/// `YAML syntax error: PROBLEM (CONTEXT that starts at line L, column C)`,
/// plus a hint for the usual causes.
fn syntax_message(problem: &str, context: Option<(&str, Option<Pos>)>) -> String {
    let mut message = format!("YAML syntax error: {problem}");
    if let Some((context, start)) = context {
        message.push_str(" (");
        message.push_str(context);
        if let Some(start) = start {
            message.push_str(&format!(
                " that starts at line {}, column {}",
                start.line, start.column
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
        || problem.contains("did not find expected <document start>")
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

/// The source text, for the few places where positions are computed from it.
struct Source<'a> {
    text: &'a str,
    /// The last (character index, byte offset) looked up: lookups mostly move
    /// forward, so each one only walks from the previous.
    cursor: Cell<(usize, usize)>,
}

impl<'a> Source<'a> {
    fn new(text: &'a str) -> Self {
        Source {
            text,
            cursor: Cell::new((0, 0)),
        }
    }

    /// The first tab of the blanks just before `marker`.
    fn first_tab_before(&self, marker: Marker) -> Option<Pos> {
        let before = &self.text[..self.byte(marker.index())];
        let blanks = &before[before.trim_end_matches([' ', '\t']).len()..];
        let tab = blanks.find('\t')?;
        Some(Pos {
            line: marker.line(),
            column: (marker.col() + 1).checked_sub(blanks.len() - tab)?,
        })
    }

    /// The byte offset of the character at `index` (the end of the text past it).
    fn byte(&self, index: usize) -> usize {
        let (mut chars, mut bytes) = self.cursor.get();
        if index < chars {
            (chars, bytes) = (0, 0);
        }
        for c in self.text[bytes..].chars() {
            if chars == index {
                break;
            }
            chars += 1;
            bytes += c.len_utf8();
        }
        self.cursor.set((chars, bytes));
        bytes
    }
    /// The character at `marker`.
    fn char_at(&self, marker: Marker) -> Option<char> {
        self.text[self.byte(marker.index())..].chars().next()
    }

    /// The character just before `marker`.
    fn char_before(&self, marker: Marker) -> Option<char> {
        let index = marker.index().checked_sub(1)?;
        self.text[self.byte(index)..].chars().next()
    }

    /// Where the text ends (after its last character).
    fn end(&self) -> Pos {
        let mut pos = Pos::START;
        let mut after_cr = false;
        for c in self.text.chars() {
            match c {
                '\n' if after_cr => {}
                '\n' | '\r' => {
                    pos.line += 1;
                    pos.column = 1;
                }
                _ => pos.column += 1,
            }
            after_cr = c == '\r';
        }
        pos
    }

    /// The first of `targets` after `from`, with only blanks, line breaks,
    /// comments and the indicators in `skip` in between.
    fn find_after(&self, from: Marker, skip: &[char], targets: &[char]) -> Option<Pos> {
        let mut pos = Pos::of(from);
        let mut comment = false;
        let mut after_cr = false;
        for c in self.text[self.byte(from.index())..].chars() {
            match c {
                '\n' if after_cr => pos.column -= 1,
                '\n' | '\r' => {
                    pos.line += 1;
                    pos.column = 0;
                    comment = false;
                }
                _ if comment => {}
                _ if targets.contains(&c) => return Some(pos),
                ' ' | '\t' => {}
                '#' => comment = true,
                _ if skip.contains(&c) => {}
                _ => return None,
            }
            pos.column += 1;
            after_cr = c == '\r';
        }
        None
    }

    /// The `-` before `at` on the same line, with only blanks in between.
    fn dash_before(&self, at: Marker) -> Option<Pos> {
        let before = &self.text[..self.byte(at.index())];
        let blanks = before.len() - before.trim_end_matches([' ', '\t']).len();
        if !before[..before.len() - blanks].ends_with('-') {
            return None;
        }
        Some(Pos {
            line: at.line(),
            column: (at.col() + 1).checked_sub(blanks + 1)?,
        })
    }
}

/// Where a node sits in the document, as serde_yaml printed it in messages
/// (`images[2].name`).
#[derive(Clone, Copy)]
enum Path<'p> {
    Root,
    Seq(&'p Path<'p>, usize),
    Map(&'p Path<'p>, &'p str),
    Alias(&'p Path<'p>),
    Unknown(&'p Path<'p>),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parent = |f: &mut fmt::Formatter<'_>, parent: &Path<'_>| match parent {
            Path::Root => Ok(()),
            other => write!(f, "{other}."),
        };
        match self {
            Path::Root => f.write_str("."),
            Path::Seq(up, index) => write!(f, "{up}[{index}]"),
            Path::Map(up, key) => {
                parent(f, up)?;
                f.write_str(key)
            }
            Path::Alias(up) => write!(f, "{up}"),
            Path::Unknown(up) => {
                parent(f, up)?;
                f.write_str("?")
            }
        }
    }
}

/// Why the tree could not be built.
enum Failure {
    /// A YAML error with its message and position.
    Yaml(YamlError),
    /// More than the node budget; where the enclosing node starts, once known.
    OverBudget(Option<Pos>),
    /// Aliases expanded more than 100 times per event of the document.
    Repetition,
}

impl Failure {
    /// The position of the node being read, for a failure that has none yet.
    fn within(self, pos: Pos) -> Failure {
        match self {
            Failure::OverBudget(None) => Failure::OverBudget(Some(pos)),
            other => other,
        }
    }

    fn into_error(self, max_nodes: usize) -> YamlError {
        match self {
            Failure::Yaml(error) => error,
            Failure::OverBudget(pos) => YamlError {
                pos: pos.unwrap_or(Pos::START),
                message: format!(
                    "the manifest holds more than {max_nodes} values (aliases expanded); a manifest \
                     lists a few hundred images, so check the file and its aliases ('*name')"
                ),
            },
            Failure::Repetition => YamlError {
                pos: Pos::START,
                message: "aliases ('*name') are expanded too many times; use fewer aliases"
                    .to_string(),
            },
        }
    }
}

fn nested(pos: Pos) -> Failure {
    Failure::Yaml(YamlError {
        pos,
        message: NESTED_TOO_DEEPLY.to_string(),
    })
}

/// Where a node is read: what its parents leave it.
#[derive(Clone, Copy)]
struct Cx<'p> {
    /// How many more collections may be nested.
    depth: u8,
    /// Whether the node's tag is already taken (the node is the inside of a
    /// [`Value::Tagged`]).
    tagged: bool,
    /// Whether the node is inside a flow collection.
    flow: bool,
    path: &'p Path<'p>,
}

/// Builds the tree of one document from its events, in document order. The
/// first error met wins: one in the tree (nesting, budget) if it comes before
/// the events run out, else the parser's.
struct Builder<'e, 'a> {
    events: &'e Events<'a>,
    text: &'e Source<'e>,
    /// Nodes that may still be built.
    budget: usize,
    /// Aliases expanded so far.
    jumps: usize,
    /// The plain scalars typed so far, by text.
    plain: HashMap<&'e str, Value>,
}

impl<'e, 'a> Builder<'e, 'a> {
    /// The event at `at`, or the reason the document ends before it.
    fn peek(&self, at: usize) -> Result<&'e (Event<'a>, Span), Failure> {
        let events: &'e Events<'a> = self.events;
        events.list.get(at).ok_or_else(|| {
            Failure::Yaml(events.error.clone().unwrap_or(YamlError {
                pos: Pos::START,
                message: syntax_message("found unexpected end of stream", None),
            }))
        })
    }

    /// Where the node at `at` is, as the `place` it has in its parent.
    fn locate(&self, at: usize, place: Place) -> Result<Pos, Failure> {
        self.peek(at)?;
        Ok(start_of(self.events, self.text, at, place))
    }

    /// One node, which its parent located at `pos`. `tagged`: the node's tag
    /// is already taken (the node is the inside of a [`Value::Tagged`]).
    fn node(&mut self, at: &mut usize, pos: Pos, cx: Cx<'_>) -> Result<Node, Failure> {
        self.budget = self
            .budget
            .checked_sub(1)
            .ok_or(Failure::OverBudget(None))?;
        let value = self.value(at, pos, cx)?;
        Ok(Node { pos, value })
    }

    /// The value of the node whose first event is at `at`.
    fn value(&mut self, at: &mut usize, pos: Pos, cx: Cx<'_>) -> Result<Value, Failure> {
        let Cx {
            depth,
            tagged,
            flow,
            path,
        } = cx;
        let (event, span) = self.peek(*at)?;
        let start = Pos::of(span.start);
        *at += 1;
        let application_tag = match event {
            Event::Scalar(_, _, _, tag)
            | Event::SequenceStart(_, tag)
            | Event::MappingStart(_, tag)
                if !tagged =>
            {
                tag.as_deref().and_then(application_tag)
            }
            _ => None,
        };
        let result = if let Some(name) = application_tag {
            // Read the same event again, as the inside of the tagged value.
            *at -= 1;
            self.node(at, pos, Cx { tagged: true, ..cx })
                .map(|inner| Value::Tagged(name, Box::new(inner)))
        } else {
            match event {
                Event::Alias(id) => self.alias(*id, pos, depth, path),
                Event::Scalar(text, style, _, tag) => {
                    let tag = tag.as_deref().filter(|_| !tagged);
                    scalar(&mut self.plain, text, *style, tag, start, path)
                }
                Event::SequenceStart(..) => {
                    let bracket = self.text.char_before(span.end) == Some('[');
                    self.sequence(at, pos, depth, flow || bracket, path)
                }
                Event::MappingStart(..) => {
                    let brace = self.text.char_before(span.end) == Some('{');
                    self.mapping(at, pos, depth, flow || brace, path)
                }
                Event::Nothing => Ok(Value::Null),
                Event::StreamStart
                | Event::StreamEnd
                | Event::DocumentStart(_)
                | Event::DocumentEnd
                | Event::SequenceEnd
                | Event::MappingEnd => Err(Failure::Yaml(YamlError {
                    pos: start,
                    message:
                        "internal error: unexpected YAML event (please report this with the file)"
                            .to_string(),
                })),
            }
        };
        result.map_err(|failure| failure.within(start))
    }

    fn alias(&mut self, id: usize, pos: Pos, depth: u8, path: &Path<'_>) -> Result<Value, Failure> {
        self.jumps += 1;
        if self.jumps > self.events.list.len().saturating_mul(100) {
            return Err(Failure::Repetition);
        }
        let Some(&anchored) = self.events.anchors.get(&id) else {
            return Err(Failure::Yaml(YamlError {
                pos,
                message: UNKNOWN_ANCHOR.to_string(),
            }));
        };
        let mut at = anchored;
        // What an alias refers to is never inside a flow collection that is
        // not its own.
        let cx = Cx {
            depth,
            tagged: false,
            flow: false,
            path: &Path::Alias(path),
        };
        self.value(&mut at, pos, cx)
    }

    /// The sequence whose start event was at `at`, located at `pos` (for an
    /// alias, where the alias is written: nesting too deep through aliases
    /// is reported there).
    fn sequence(
        &mut self,
        at: &mut usize,
        pos: Pos,
        depth: u8,
        flow: bool,
        path: &Path<'_>,
    ) -> Result<Value, Failure> {
        let depth = depth.checked_sub(1).ok_or_else(|| nested(pos))?;
        let mut items = Vec::new();
        loop {
            if matches!(self.peek(*at)?.0, Event::SequenceEnd) {
                *at += 1;
                return Ok(Value::Seq(items));
            }
            let item_pos = self.locate(*at, Place::Item)?;
            let cx = Cx {
                depth,
                tagged: false,
                flow,
                path: &Path::Seq(path, items.len()),
            };
            let item = self.node(at, item_pos, cx)?;
            items.push(item);
        }
    }

    /// The mapping whose start event was at `at`, located at `pos` (for an
    /// alias, where the alias is written: nesting too deep through aliases
    /// is reported there).
    fn mapping(
        &mut self,
        at: &mut usize,
        pos: Pos,
        depth: u8,
        flow: bool,
        path: &Path<'_>,
    ) -> Result<Value, Failure> {
        let depth = depth.checked_sub(1).ok_or_else(|| nested(pos))?;
        let mut entries = Vec::new();
        loop {
            let (event, _) = self.peek(*at)?;
            if matches!(event, Event::MappingEnd) {
                *at += 1;
                return Ok(Value::Map(entries));
            }
            let key_place = if flow { Place::Other } else { Place::BlockKey };
            let key_pos = self.locate(*at, key_place)?;
            let cx = Cx {
                depth,
                tagged: false,
                flow,
                path,
            };
            let key = self.node(at, key_pos, cx)?;
            let value_place = if flow {
                Place::FlowValue
            } else {
                Place::BlockValue
            };
            let value_pos = self.locate(*at, value_place)?;
            let value_path = match event {
                Event::Scalar(text, ..) => Path::Map(path, text),
                _ => Path::Unknown(path),
            };
            let cx = Cx {
                path: &value_path,
                ..cx
            };
            let value = self.node(at, value_pos, cx)?;
            entries.push(Entry { key, value });
        }
    }
}

/// Where the node at `events.list[at]` is, as libyaml placed it: the parser
/// agrees but for nodes whose position it takes from the next token.
fn start_of(events: &Events<'_>, text: &Source<'_>, at: usize, place: Place) -> Pos {
    let Some((event, span)) = events.list.get(at) else {
        return Pos::START;
    };
    let start = Pos::of(span.start);
    let before = at.checked_sub(1).map(|i| &events.list[i]);
    let previous = before.map(|(_, span)| span.end);
    let empty = is_empty_scalar(event);
    let found = match (event, place) {
        // An empty list item is where its `-` ends.
        (_, Place::Item) if empty => text
            .dash_before(span.start)
            .or_else(|| previous.and_then(|from| text.find_after(from, &[], &['-'])))
            .map(|dash| Pos {
                column: dash.column + 1,
                ..dash
            }),
        // An empty explicit key (`?` alone) is where the `?` ends.
        (_, Place::BlockKey) if empty => before
            .and_then(|(event, span)| {
                // The end of a block collection may be placed past the `?`.
                let ended = matches!(event, Event::SequenceEnd | Event::MappingEnd);
                text.find_after(span.end, &[], &['?'])
                    .or_else(|| ended.then(|| text.find_after(span.start, &[], &['?']))?)
            })
            .map(|mark| Pos {
                column: mark.column + 1,
                ..mark
            }),
        // An empty value is where its `:` ends in a block mapping, and at the
        // next token in a flow one.
        (_, Place::BlockValue) if empty => previous
            .and_then(|from| text.find_after(from, &[], &[':']))
            .map(|colon| Pos {
                column: colon.column + 1,
                ..colon
            }),
        (_, Place::FlowValue) if empty => {
            previous.and_then(|from| text.find_after(from, &[':'], &[',', '}', ']']))
        }
        // A sequence without indentation (`key:` then `- item` below it) is
        // at its first `-`.
        (Event::SequenceStart(0, None), _)
            if span.start == span.end && text.char_at(span.start) != Some('-') =>
        {
            text.dash_before(span.start)
        }
        // A block scalar is at its `|` or `>`, not where its text starts.
        (Event::Scalar(_, ScalarStyle::Literal | ScalarStyle::Folded, 0, None), _) => text
            .find_after(
                previous.unwrap_or(Marker::new(0, 1, 0)),
                &[':', '-', '?'],
                &['|', '>'],
            ),
        _ => None,
    };
    found.unwrap_or(start)
}

/// What a node is to its parent, for [`start_of`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Item,
    BlockKey,
    BlockValue,
    FlowValue,
    Other,
}

/// Whether `event` is a scalar with nothing written: no text, quote, anchor
/// or tag.
fn is_empty_scalar(event: &Event<'_>) -> bool {
    matches!(event, Event::Scalar(text, ScalarStyle::Plain, 0, None) if text.is_empty())
}

/// The name of an application tag (`!foo` is `foo`); `None` for the core tags
/// (`!!str` …) and global ones, which are resolved instead.
fn application_tag(tag: &Tag) -> Option<String> {
    let full = format!("{}{}", tag.handle, tag.suffix);
    let name = full.strip_prefix('!')?;
    Some(if name.is_empty() {
        full.clone()
    } else {
        name.to_string()
    })
}

/// A scalar's value: a plain one typed by its text, a tagged one by its tag
/// (application tags are [`Value::Tagged`] before this), a quoted or block
/// one a string. The typing is serde_yaml's (see [`serde_yaml_scalar`]);
/// plain scalars are typed once per text, as aliases and keys repeat them.
fn scalar<'e>(
    plain: &mut HashMap<&'e str, Value>,
    text: &'e str,
    style: ScalarStyle,
    tag: Option<&Tag>,
    at: Pos,
    path: &Path<'_>,
) -> Result<Value, Failure> {
    let typed = match tag {
        Some(tag) => serde_yaml_scalar(text, Some(&format!("{}{}", tag.handle, tag.suffix))),
        None if style == ScalarStyle::Plain => match plain.get(text) {
            Some(value) => Ok(value.clone()),
            None => serde_yaml_scalar(text, None).inspect(|value| {
                plain.insert(text, value.clone());
            }),
        },
        None => Ok(Value::Str(text.to_string())),
    };
    typed.map_err(|message| {
        // serde_yaml's message, with the path it printed (`images[2].name`).
        let path = path.to_string();
        let prefix = if path == "." {
            String::new()
        } else {
            format!("{path}: ")
        };
        Failure::Yaml(YamlError {
            pos: at,
            message: syntax_message(&format!("{prefix}{message}"), None),
        })
    })
}

/// What serde_yaml makes of a scalar: `text` written plain when `tag` is
/// `None`, else with `tag` (a resolved tag such as `tag:yaml.org,2002:int`).
/// `Err` is serde_yaml's message, such as `invalid value: string "yes",
/// expected a boolean`.
///
/// The linter was written on serde_yaml 0.9, and its messages describe
/// values as serde_yaml typed them (YAML 1.2 core schema: `yes` and `0755`
/// are strings, `0x1F` is the number 31, `!!bool yes` is an error), so
/// serde_yaml itself decides, by reading the scalar back as a one-scalar
/// document. serde_yaml is archived upstream (0.9.34+deprecated): this is
/// the one place that uses it, and the one a maintained fork would replace.
fn serde_yaml_scalar(text: &str, tag: Option<&str>) -> Result<Value, String> {
    use serde::Deserializer as _;
    use std::fmt::Write as _;

    let document = match tag {
        // Indented, continuation lines stay inside the scalar.
        None => format!("--- {}", text.replace('\n', "\n ")),
        // `!<>`, which saphyr reads and YAML does not allow.
        Some("") => return Ok(Value::Str(text.to_string())),
        Some(tag) => {
            let mut document = String::from("--- !<");
            for b in tag.bytes() {
                if b.is_ascii_alphanumeric() || b"-_;/?:@&=+$.!~*'()".contains(&b) {
                    document.push(char::from(b));
                } else {
                    let _ = write!(document, "%{b:02X}");
                }
            }
            document.push_str("> \"");
            for c in text.chars() {
                match c {
                    ' '..='~' if c != '"' && c != '\\' => document.push(c),
                    _ => {
                        let _ = write!(document, "\\U{:08X}", u32::from(c));
                    }
                }
            }
            document.push('"');
            document
        }
    };
    match serde_yaml::Deserializer::from_str(&document).deserialize_any(Typed) {
        Ok(Value::Str(_)) => Ok(Value::Str(text.to_string())),
        Ok(value) => Ok(value),
        // Not one plain scalar once written alone (`-`, `a:`): a string.
        Err(_) if tag.is_none() => Ok(Value::Str(text.to_string())),
        Err(err) => {
            let message = err.to_string();
            let at = err
                .location()
                .map(|l| format!(" at line {} column {}", l.line(), l.column()));
            Err(
                match at.as_deref().and_then(|at| message.strip_suffix(at)) {
                    Some(message) => message.to_string(),
                    None => message,
                },
            )
        }
    }
}

/// A scalar as serde_yaml hands it over (see [`serde_yaml_scalar`]);
/// anything else is an error.
struct Typed;

impl<'de> serde::de::Visitor<'de> for Typed {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scalar")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.to_string()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.to_string()))
    }

    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Number(v.to_string()))
    }

    fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
        Ok(Value::Number(v.to_string()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Number(v.to_string()))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }
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
    fn scalars_are_typed_as_before() {
        let doc = root(
            "a: yes\nb: no\nc: 0755\nd: 0x1F\ne: -0o17\nf: 5.10\ng: .inf\nh: ~\ni: '40'\nj: 1e999\nk: +7\nl: !!int '12'\nm: !!str 12\nn: Null\no: !!float 3\n",
        );
        let values: Vec<Value> = entries(&doc)
            .iter()
            .map(|e| e.value.value.clone())
            .collect();
        let n = |s: &str| Value::Number(s.into());
        let s = |s: &str| Value::Str(s.into());
        assert_eq!(
            values,
            vec![
                s("yes"),
                s("no"),
                s("0755"),
                n("31"),
                n("-15"),
                n("5.1"),
                n("inf"),
                Value::Null,
                s("40"),
                s("1e999"),
                n("7"),
                n("12"),
                s("12"),
                Value::Null,
                n("3"),
            ]
        );
        let err = read("a:\n  b: !!bool yes\n").errors;
        assert_eq!(
            err,
            vec![YamlError {
                pos: at(2, 6),
                message:
                    "YAML syntax error: a.b: invalid value: string \"yes\", expected a boolean"
                        .into()
            }]
        );
    }

    #[test]
    fn block_scalars_and_empty_entries_are_where_libyaml_put_them() {
        let doc = root("a: |\n  x\nb: >-\n  y\nc:\n- \n-   # none\n- z\n? \n: v\n");
        let e = entries(&doc);
        assert_eq!(e[0].value.pos, at(1, 4));
        assert_eq!(e[1].value.pos, at(3, 4));
        // A sequence without indentation is at its first `-`; an empty item
        // where its `-` ends, whatever follows on the line.
        assert_eq!(e[2].value.pos, at(6, 1));
        assert_eq!(
            item_positions(&e[2].value),
            vec![at(6, 2), at(7, 2), at(8, 3)]
        );
        // An empty explicit key is where its `?` ends.
        assert_eq!(e[3].key.pos, at(9, 2));
        assert_eq!(e[3].key.value, Value::Null);
    }

    #[test]
    fn a_tab_after_a_colon_is_a_blank() {
        let doc = root("a:\tb\nc:\t\t'x:\ty'\nd: |\n  e:\tf\n");
        let e = entries(&doc);
        assert_eq!(
            e[0].value,
            Node {
                pos: at(1, 4),
                value: Value::Str("b".into())
            }
        );
        assert_eq!(
            e[1].value,
            Node {
                pos: at(2, 5),
                value: Value::Str("x:\ty".into())
            }
        );
        assert_eq!(e[2].value.value, Value::Str("e:\tf\n".into()));
    }

    #[test]
    fn control_characters_are_refused_where_they_are() {
        let doc = read("a: b\u{7}\n");
        assert!(doc.root.is_none());
        assert_eq!(
            doc.errors,
            vec![YamlError {
                pos: at(1, 5),
                message: "YAML syntax error: control characters are not allowed".into()
            }]
        );
        // Anywhere in the file, even in a comment or after a YAML error.
        let late = format!("a: b: c\n#{}\r\n\u{0}", "x".repeat(20_000));
        assert_eq!(read(&late).errors[0].pos, at(3, 1));
    }

    #[test]
    fn text_after_a_complete_document_is_an_error() {
        for src in ["  a: b\n]\n", "  a: b\nc: d\n", "a: b\n]\n"] {
            let doc = read(src);
            assert!(doc.root.is_none(), "{src:?}");
            assert_eq!(doc.errors.len(), 1, "{src:?}");
            assert_eq!(doc.errors[0].pos, at(2, 1), "{src:?}");
            assert!(doc.errors[0].message.starts_with("YAML syntax error: "));
        }
        // Even when what follows is not YAML: the first document is read.
        let doc = read("a: b\n--- [\n");
        assert!(doc.root.is_some());
        assert_eq!(doc.errors[0].pos, at(2, 1));
        assert!(doc.errors[0].message.starts_with("a second YAML document"));
    }
}
