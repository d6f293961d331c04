//! Property test of the manifest reader (issue #4, "bad manifests"): no input
//! makes it panic — not even a panic it catches itself, which would still
//! print a backtrace on a user's terminal — and every input gives either a
//! manifest or problems with sane positions.
//!
//! Inputs are random and mutated manifests from a small deterministic PRNG
//! (splitmix64; fixed seeds, so a failure reproduces), bounded in number and
//! size so the whole test takes a few seconds even unoptimised. A failure
//! prints the seed, the iteration and the input.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;
use std::time::{Duration, Instant};

use super::{parse_str, Manifest, Problem};

const KOLLA: &str = include_str!("../../manifests/linaro-kolla.yaml");
const SAMPLE: &str = include_str!("../../manifests/linaro-sample.yaml");

/// Small hand-written inputs: valid ones and the shapes that break parsers.
const SEEDS: &[&str] = &[
    "namespace: linaro\nbuilds: {pattern: '^rocky-\\d+$'}\nimages: [a]\n",
    "registry: docker.io\nnamespace: linaro\nbuilds:\n  pattern: '^rocky-\\d+$'\n  grace: 1h30m\n  protect: ['^latest$']\nplatforms: [linux/amd64, linux/arm64/v8]\nimages:\n  - a\n  - name: b\n    builds: '^rocky-(1\\d\\d)$'\n",
    "registry: https://registry.example.com:5000\nnamespace: team/sub\nbuilds: {pattern: 'x'}\nimages: [{name: a}]\n",
    "a: &x [*x]\n",
    "base: &b {pattern: '^x$'}\nbuilds: *b\nnamespace: n\nimages: [a, a, a]\n",
    "namespace: [[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]\n",
    "--- \nnamespace: a\n---\nnamespace: b\n",
    "%YAML 1.2\n---\nnamespace: !!binary aGVsbG8=\n",
    "namespace: \"\\u0000\\uD800\"\nimages: ['\u{202e}evil']\n",
    "? [a, b]\n: c\nnamespace: x\n",
    "images:\n- name:\n  builds:\n    - x\n",
    "builds: {pattern: '(?<name>a)\\1{99999999}'}\n",
    "builds: {grace: 99999999999999999999h}\n",
    "\u{feff}namespace: linaro\n",
    "\t\tnamespace:\tlinaro\n",
    "namespace: 'unterminated\n",
    "{{{{{{{{{{\n",
    "- - - - - - - - - -\n",
    "",
    "\n\n\n",
    "#only a comment",
    "namespace: linaro\r\nbuilds:\r\n  pattern: x\r\nimages: [a]\r\n",
    "namespace: linaro\nbuilds: {pattern: '^rocky-\\d+$'}\nimages:\n  - name: a\n    from: rocky-40\n  - name: b\n    until: 'rocky-12'\n  - {name: c, from: rocky-9, until: rocky-10, builds: '^rocky-1'}\n",
    "namespace: linaro\nbuilds: {pattern: '^rocky-\\d+$'}\nimages:\n  - {name: a, from: 40, until: rocky-1}\n  - {name: b, from: [x], until: ~}\n  - {name: c, from: rocky-99999999999999999999999, until: rocky-}\n",
    "namespace: linaro\nbuilds: {pattern: '('}\nfrom: rocky-1\nimages: [{name: a, from: !x y, until: 5.10}]\n",
];

/// Bytes and snippets that matter to YAML, regexes, durations and names.
const TOKENS: &[&str] = &[
    ":",
    ": ",
    "-",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "#",
    "&a ",
    "*a",
    "!",
    "!!str ",
    "|",
    ">",
    "'",
    "\"",
    "%",
    "@",
    "`",
    "?",
    "\t",
    "\n",
    "\r\n",
    "  ",
    "\\",
    "\\u",
    "(",
    ")",
    "*",
    "+",
    "{9999}",
    "(?",
    "^",
    "$",
    "0",
    "-1",
    "1e999",
    "2h",
    "99999999999h",
    "ms",
    "linux/",
    "/",
    "..",
    "é",
    "\u{0}",
    "\u{7f}",
    "\u{feff}",
    "\u{10ffff}",
    "名前",
    "~",
    "null",
    "true",
    "<<: ",
    "---",
    "...",
    "namespace: ",
    "images: ",
    "builds: ",
    "pattern: ",
    "grace: ",
    "protect: ",
    "platforms: ",
    "registry: ",
    "name: ",
    "from: ",
    "until: ",
];

fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn below(state: &mut u64, n: usize) -> usize {
    (next(state) % n.max(1) as u64) as usize
}

/// A char boundary at or before `i`.
fn boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// One random edit of `s`.
fn mutate(s: &str, rng: &mut u64) -> String {
    let len = s.len();
    let at = boundary(s, below(rng, len + 1));
    let to = boundary(s, at + below(rng, 40));
    let mut out = String::with_capacity(len + 64);
    match below(rng, 9) {
        // Insert a token.
        0 | 1 => {
            out.push_str(&s[..at]);
            out.push_str(TOKENS[below(rng, TOKENS.len())]);
            out.push_str(&s[at..]);
        }
        // Delete a range.
        2 => {
            out.push_str(&s[..at]);
            out.push_str(&s[to..]);
        }
        // Duplicate a range.
        3 => {
            out.push_str(&s[..to]);
            out.push_str(&s[at..]);
        }
        // Replace a range with a token.
        4 => {
            out.push_str(&s[..at]);
            out.push_str(TOKENS[below(rng, TOKENS.len())]);
            out.push_str(&s[to..]);
        }
        // Truncate.
        5 => out.push_str(&s[..at]),
        // Swap two lines.
        6 => {
            let mut lines: Vec<&str> = s.split('\n').collect();
            if lines.len() > 1 {
                let a = below(rng, lines.len());
                let b = below(rng, lines.len());
                lines.swap(a, b);
            }
            out = lines.join("\n");
        }
        // Re-indent a line.
        7 => {
            let mut lines: Vec<String> = s.split('\n').map(str::to_string).collect();
            let i = below(rng, lines.len());
            let indent = " ".repeat(below(rng, 9));
            lines[i] = format!("{indent}{}", lines[i].trim_start());
            out = lines.join("\n");
        }
        // A random ASCII byte.
        _ => {
            out.push_str(&s[..at]);
            out.push(char::from(below(rng, 128) as u8));
            out.push_str(&s[at..]);
        }
    }
    out
}

/// A random YAML-ish value, `depth` levels deep at most.
fn value(rng: &mut u64, depth: usize) -> String {
    match below(rng, if depth == 0 { 5 } else { 8 }) {
        0 => TOKENS[below(rng, TOKENS.len())].trim().to_string(),
        1 => format!("'{}'", TOKENS[below(rng, TOKENS.len())]),
        2 => format!("rocky-{}", next(rng) % 1000),
        3 => ["^rocky-\\d+$", "(", "[a-", "\\p{Zzz}", "a{2,1}", ".*"][below(rng, 6)].to_string(),
        4 => ["2h", "1h30m", "0s", "-5m", "3 days", "1y"][below(rng, 6)].to_string(),
        5 => {
            let items: Vec<String> = (0..below(rng, 4)).map(|_| value(rng, depth - 1)).collect();
            format!("[{}]", items.join(", "))
        }
        6 => {
            let items: Vec<String> = (0..below(rng, 4))
                .map(|_| format!("{}: {}", key(rng), value(rng, depth - 1)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        _ => format!("\n{}", block(rng, depth - 1, 2)),
    }
}

fn key(rng: &mut u64) -> &'static str {
    const KEYS: &[&str] = &[
        "registry",
        "namespace",
        "builds",
        "pattern",
        "grace",
        "protect",
        "platforms",
        "images",
        "name",
        "from",
        "until",
        "colour",
        "",
    ];
    KEYS[below(rng, KEYS.len())]
}

/// A random block mapping or sequence, indented by `indent`.
fn block(rng: &mut u64, depth: usize, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::new();
    let seq = below(rng, 3) == 0;
    for _ in 0..1 + below(rng, 5) {
        let v = value(rng, depth).replace('\n', &format!("\n{pad}"));
        if seq {
            out.push_str(&format!("{pad}- {v}\n"));
        } else {
            out.push_str(&format!("{pad}{}: {v}\n", key(rng)));
        }
    }
    out
}

thread_local! {
    /// Panics seen on this thread while [`parse_checked`] runs, caught or not.
    static PANICS: Cell<usize> = const { Cell::new(0) };
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

/// Counts panics of the threads that asked, and leaves every other panic
/// (other tests, in parallel) to the previous hook.
fn install_panic_counter() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if COUNTING.with(Cell::get) {
                PANICS.with(|p| p.set(p.get() + 1));
            } else {
                previous(info);
            }
        }));
    });
}

/// Parses `src`; fails with the input when anything panics, even inside a
/// `catch_unwind` of the parser, or when a problem points nowhere.
fn parse_checked(src: &str, label: &str) -> Result<Manifest, Vec<Problem>> {
    PANICS.with(|p| p.set(0));
    COUNTING.with(|c| c.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(|| parse_str("m.yaml", src)));
    COUNTING.with(|c| c.set(false));
    let panics = PANICS.with(Cell::get);
    let Ok(result) = result else {
        panic!("{label}: the parser panicked on {src:?}");
    };
    assert_eq!(
        panics, 0,
        "{label}: the parser panicked (and caught it) on {src:?}"
    );
    match &result {
        Ok(m) => {
            assert!(
                !m.images.is_empty(),
                "{label}: a manifest without images from {src:?}"
            );
            assert!(!m.namespace.is_empty(), "{label}: {src:?}");
        }
        Err(problems) => {
            assert!(
                !problems.is_empty(),
                "{label}: refused without a problem: {src:?}"
            );
            let lines = src.split('\n').count();
            for p in problems {
                assert!(
                    p.line >= 1 && p.column >= 1 && p.line <= lines + 1,
                    "{label}: {p} points outside the {lines} lines of {src:?}"
                );
                assert!(!p.message.is_empty(), "{label}: {src:?}");
                assert!(
                    !p.message.contains("internal error"),
                    "{label}: {p} on {src:?}"
                );
            }
        }
    }
    result
}

/// The slowest single parse we accept, unoptimised and on a busy machine.
/// The Kolla manifest (250 images) takes milliseconds; the slowest hostile
/// shape below (the "billion laughs" aliases, cut off by the reader's node
/// cap) about a second; an exponential or quadratic blow-up takes far longer.
const SLOW: Duration = Duration::from_secs(10);

fn timed(src: &str, label: &str) {
    let started = Instant::now();
    let _ = parse_checked(src, label);
    let took = started.elapsed();
    assert!(
        took < SLOW,
        "{label}: {took:?} to parse {} bytes: {src:?}",
        src.len()
    );
}

#[test]
fn mutated_manifests_never_panic() {
    install_panic_counter();
    let corpus: Vec<&str> = [KOLLA, SAMPLE].iter().chain(SEEDS).copied().collect();
    for (i, src) in corpus.iter().enumerate() {
        timed(src, &format!("seed input {i}"));
    }
    let started = Instant::now();
    for seed in 1..=4u64 {
        let mut rng = seed;
        for iteration in 0..400 {
            let base = corpus[below(&mut rng, corpus.len())];
            // The big Kolla manifest: mutate a slice of it, to stay fast.
            let base = if base.len() > 4000 {
                let from = boundary(base, below(&mut rng, base.len() - 2000));
                &base[from..boundary(base, from + 2000)]
            } else {
                base
            };
            let mut src = base.to_string();
            for _ in 0..1 + below(&mut rng, 6) {
                src = mutate(&src, &mut rng);
            }
            timed(&src, &format!("seed {seed}, iteration {iteration}"));
        }
    }
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn random_manifests_never_panic() {
    install_panic_counter();
    for seed in 1..=4u64 {
        let mut rng = seed.wrapping_mul(0xdead_beef);
        for iteration in 0..250 {
            let src = block(&mut rng, 3, 0);
            timed(&src, &format!("random seed {seed}, iteration {iteration}"));
        }
    }
}

#[test]
fn hostile_shapes_stay_bounded() {
    install_panic_counter();
    let deep_flow = format!("namespace: {}{}\n", "[".repeat(5000), "]".repeat(5000));
    let deep_block: String = (0..500).map(|i| format!("{}- \n", " ".repeat(i))).collect();
    let billion_laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
    let many_images = format!(
        "namespace: linaro\nbuilds: {{pattern: x}}\nimages:\n{}",
        (0..20_000)
            .map(|i| format!("  - img-{i}\n"))
            .collect::<String>()
    );
    let long_line = format!("namespace: {}\n", "a".repeat(200_000));
    let huge_regex = format!("builds: {{pattern: '{}'}}\n", "(a|b)*".repeat(2000));
    for (label, src) in [
        ("deep flow nesting", deep_flow.as_str()),
        ("deep block nesting", deep_block.as_str()),
        ("billion laughs", billion_laughs),
        ("20,000 images", many_images.as_str()),
        ("a 200 kB line", long_line.as_str()),
        ("a huge regex", huge_regex.as_str()),
    ] {
        timed(src, label);
    }
}
