//! `audit --format html` in a real browser: Debian's `chromium`, headless,
//! renders the page the binary wrote; what its DOM holds, cell by cell, is
//! compared with `--format json` of the same snapshot. A probe script, added
//! to a copy of the page (the page itself has none), reads the DOM through
//! the browser's own API and measures the layout: the headers stay in view
//! while the matrix scrolls, and the page never scrolls sideways.
//!
//! Screenshots and a PDF print are kept as artifacts in
//! `target/tmp/audit-html/`. Without `chromium` on PATH these tests fail:
//! `scripts/test` installs it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;

use crate::support::fakehub::{splitmix64, FakeHub, Tag};
use crate::support::{repo_file, run, tagsweep, Workdir};

/// Where the screenshots and the print are kept.
fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("audit-html");
    std::fs::create_dir_all(&dir).expect("artifact dir");
    dir
}

/// Debian's `chromium` on PATH; its absence fails the test, with what to do.
fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("chromium"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the HTML report tests render the page in a real browser: install Debian's \
                 `chromium` with `apt-get install -y chromium` (scripts/test does)"
            )
        })
}

/// Runs headless chromium on `page` with `args`, its own profile, and a
/// deadline; returns stdout (kept in a file: a dumped DOM outgrows a pipe).
fn browse(page: &Path, window: (u32, u32), args: &[String]) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let stdout = profile.path().join("stdout");
    let stderr = profile.path().join("stderr");
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-extensions",
            "--hide-scrollbars",
        ])
        .arg(format!(
            "--user-data-dir={}",
            profile.path().join("profile").display()
        ))
        .arg(format!("--window-size={},{}", window.0, window.1))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr).expect("stderr file"))
        .spawn()
        .expect("start chromium");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 120 s on {}", page.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "chromium failed on {}: {}",
        page.display(),
        std::fs::read_to_string(&stderr).unwrap_or_default()
    );
    std::fs::read_to_string(&stdout).expect("UTF-8 DOM")
}

/// Reads the rendered page through the DOM, after layout: every header,
/// row and cell (state, platforms, symbol, colour), the lists, and where the
/// sticky headers are once the matrix is scrolled to its far corner. The
/// result goes into the DOM as ASCII-only JSON, for `--dump-dom`.
const PROBE: &str = r#"<script id="probe-script">
(function () {
  const q = (s, el) => Array.from((el || document).querySelectorAll(s));
  const out = {
    title: document.title,
    as_of: document.querySelector('time').getAttribute('datetime'),
    counts: Object.fromEntries(q('#summary li').map(li => [li.dataset.count, Number(li.querySelector('b').textContent)])),
    builds: q('.matrix thead th[data-build]').map(th => ({tag: th.dataset.build, status: th.dataset.status, symbol: th.querySelector('.st').textContent})),
    rows: q('.matrix tbody tr').map(tr => ({
      image: tr.dataset.image,
      cells: q('td', tr).map(td => ({state: td.dataset.state, platforms: td.dataset.platforms || null, symbol: td.textContent, background: getComputedStyle(td).backgroundColor}))
    })),
    most_often: q('#most-often li').map(li => ({image: li.dataset.image, builds_expected: Number(li.dataset.expected), builds_missing: Number(li.dataset.missing), builds_short_of_platforms: Number(li.dataset.platformShort)})),
    legend: q('#legend li[data-legend]').map(li => li.dataset.legend),
    fetches: q('[src], [href], link, iframe, object, embed, img, script:not(#probe-script)').length,
    page: {scroll_width: document.documentElement.scrollWidth, inner_width: window.innerWidth},
    table_width: document.querySelector('table.matrix').getBoundingClientRect().width,
  };
  const box = document.querySelector('.scroll');
  box.scrollTop = box.scrollHeight;
  box.scrollLeft = box.scrollWidth;
  const b = box.getBoundingClientRect();
  const heads = q('.matrix thead th[data-build]');
  const rowHeads = q('.matrix tbody th');
  out.sticky = {
    scrolls_down: box.scrollTop > 0,
    scrolls_right: box.scrollLeft > 0,
    content_top: b.top + box.clientTop,
    content_left: b.left + box.clientLeft,
    header_top: heads[heads.length - 1].getBoundingClientRect().top,
    row_header_left: rowHeads[rowHeads.length - 1].getBoundingClientRect().left,
    header_position: getComputedStyle(heads[0]).position,
    row_header_position: getComputedStyle(rowHeads[0]).position,
  };
  const json = JSON.stringify(out).replace(/[^\x20-\x7e]|[&<>]/g, c => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
  const pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = json;
  document.body.appendChild(pre);
})();
</script>"#;

/// The page as the browser laid it out, read by [`PROBE`].
fn probe(html: &str, dir: &Path, name: &str, window: (u32, u32)) -> Value {
    assert!(html.contains("</body>"), "not a full page:\n{html}");
    let page = dir.join(name);
    std::fs::write(&page, html.replace("</body>", &format!("{PROBE}</body>"))).unwrap();
    let dom = browse(&page, window, &["--dump-dom".to_string()]);
    let start = dom
        .find("<pre id=\"probe\">")
        .unwrap_or_else(|| panic!("the probe did not run; the DOM:\n{dom}"))
        + "<pre id=\"probe\">".len();
    let end = start + dom[start..].find("</pre>").expect("end of the probe");
    serde_json::from_str(&dom[start..end]).expect("the probe's JSON")
}

fn screenshot(page: &Path, png: &Path, window: (u32, u32)) {
    browse(page, window, &[format!("--screenshot={}", png.display())]);
    let size = std::fs::metadata(png).map(|m| m.len()).unwrap_or(0);
    assert!(size > 10_000, "{} is {size} bytes", png.display());
}

/// What a self-contained page must not have: anything the browser would
/// fetch (a source, a link, an import, a font, a URL in CSS).
fn assert_self_contained(html: &str) {
    let lower = html.to_ascii_lowercase();
    for needle in [
        "<script",
        "<link",
        "<img",
        "<iframe",
        "<object",
        "<embed",
        " src=",
        " href=",
        "url(",
        "@import",
        "@font-face",
        "http://",
        "https://",
    ] {
        assert!(!lower.contains(needle), "the page has {needle:?}");
    }
}

fn ago(hours: i64) -> DateTime<Utc> {
    Utc::now() - TimeDelta::hours(hours)
}

/// Docker Hub since 2025-08: a multi-platform tag listed with `images: []`.
fn unstated(name: &str, pushed: DateTime<Utc>) -> Tag {
    let mut t = Tag::new(name, pushed).with_platforms(&["linux/amd64", "linux/arm64"]);
    t.images.clear();
    t
}

const BOTH: &[&str] = &["linux/amd64", "linux/arm64"];

/// Every kind of cell: base short of arm64 in rocky-3; nova missing from
/// rocky-2, its platforms unstated in rocky-4; glance missing from rocky-5
/// (in progress); zun expected from rocky-3 on, old up to rocky-2 (both
/// "not expected" elsewhere), old missing from rocky-2; `typo` has no
/// repository.
const MANIFEST: &str = "\
namespace: linaro
builds:
  pattern: '^rocky-\\d+$'
  grace: 2h
platforms: [linux/amd64, linux/arm64]
images:
  - base
  - nova
  - glance
  - {name: zun, from: rocky-3}
  - {name: old, until: rocky-2}
  - typo
";

fn not_expected(image: &str, build: &str) -> bool {
    let n: u32 = build.trim_start_matches("rocky-").parse().unwrap();
    (image == "zun" && n < 3) || (image == "old" && n > 2)
}

fn every_kind_of_cell() -> FakeHub {
    let age = |i: i64| ago(if i == 5 { 1 } else { (6 - i) * 24 });
    let mut hub = FakeHub::builder();
    let mut r = hub.repo("linaro", "base");
    for i in 1..=5 {
        let platforms: &[&str] = if i == 3 { &["linux/amd64"] } else { BOTH };
        r = r.tag_platforms(&format!("rocky-{i}"), age(i), platforms);
    }
    hub = r.done();
    let mut r = hub.repo("linaro", "nova");
    for i in [1, 3, 5] {
        r = r.tag_platforms(&format!("rocky-{i}"), age(i), BOTH);
    }
    hub = r.tag_with(unstated("rocky-4", age(4))).done();
    let mut r = hub.repo("linaro", "glance");
    for i in 1..=4 {
        r = r.tag_platforms(&format!("rocky-{i}"), age(i), BOTH);
    }
    hub = r.done();
    let mut r = hub.repo("linaro", "zun");
    for i in 3..=5 {
        r = r.tag_platforms(&format!("rocky-{i}"), age(i), BOTH);
    }
    hub = r.done();
    hub.repo("linaro", "old")
        .tag_platforms("rocky-1", age(1), BOTH)
        .done()
        .start()
}

/// The state the JSON report gives `image` in `build` (with the platforms
/// behind it), or `not-expected` where the manifest leaves it out.
fn expected_cell(build: &Value, image: &str) -> (String, Option<String>) {
    if not_expected(image, build["tag"].as_str().unwrap()) {
        return ("not-expected".into(), None);
    }
    let joined = |v: &Value| {
        Some(
            v.as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap())
                .collect::<Vec<_>>()
                .join(", "),
        )
    };
    if build["missing"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m == image)
    {
        ("missing".into(), None)
    } else if let Some(p) = build["missing_platforms"].get(image) {
        ("platform-short".into(), joined(p))
    } else if let Some(p) = build["unverified_platforms"].get(image) {
        ("unverified".into(), joined(p))
    } else {
        ("present".into(), None)
    }
}

#[test]
fn the_matrix_a_browser_renders_matches_the_json_report() {
    let hub = every_kind_of_cell();
    let w = Workdir::new();
    let m = w.write("m.yaml", MANIFEST);
    let snap = w.path().join("snapshot.json");
    let saved = run(tagsweep()
        .args(["snapshot", "-m"])
        .arg(&m)
        .arg("-o")
        .arg(&snap)
        .env("TAGSWEEP_HUB_URL", hub.url()));
    assert_eq!(saved.code, 0, "{}", saved.stderr);
    drop(hub);
    let audit = |format: &str| {
        let out = run(tagsweep()
            .args(["audit", "--format", format, "-m"])
            .arg(&m)
            .arg("--from")
            .arg(&snap));
        assert_eq!(
            out.code, 1,
            "broken builds and a missing repository: {}",
            out.stderr
        );
        out
    };
    let doc = audit("json").json();
    let html = audit("html").stdout;
    assert_self_contained(&html);
    let page = artifacts().join("matrix.html");
    std::fs::write(&page, &html).unwrap();
    screenshot(&page, &artifacts().join("matrix.png"), (1280, 1000));

    let dom = probe(&html, w.path(), "probe.html", (1280, 1000));
    assert_eq!(dom["fetches"], 0, "the page fetches nothing");
    assert_eq!(dom["as_of"], doc["as_of"]);
    for key in ["builds", "complete", "broken", "in_progress"] {
        assert_eq!(dom["counts"][key], doc["summary"][key], "{key}");
    }
    assert_eq!(
        dom["counts"]["images"],
        doc["image_stats"].as_array().unwrap().len()
    );

    // Columns: the JSON's builds, newest first, with their status.
    let builds = doc["builds"].as_array().unwrap();
    let columns: Vec<(&Value, &Value)> = dom["builds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (&b["tag"], &b["status"]))
        .collect();
    let want: Vec<(&Value, &Value)> = builds.iter().map(|b| (&b["tag"], &b["status"])).collect();
    assert_eq!(columns, want);
    assert_eq!(
        columns
            .iter()
            .map(|(t, _)| t.as_str().unwrap())
            .collect::<Vec<_>>(),
        ["rocky-5", "rocky-4", "rocky-3", "rocky-2", "rocky-1"]
    );

    // Rows: every image with a repository, in manifest order; `typo` has none.
    let rows = dom["rows"].as_array().unwrap();
    let images: Vec<&str> = rows.iter().map(|r| r["image"].as_str().unwrap()).collect();
    assert_eq!(images, ["base", "nova", "glance", "zun", "old"]);

    // Each cell: the state the JSON gives, by symbol and colour alike.
    let mut symbols: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut colours: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for row in rows {
        let image = row["image"].as_str().unwrap();
        let cells = row["cells"].as_array().unwrap();
        assert_eq!(cells.len(), builds.len(), "{image}");
        for (cell, build) in cells.iter().zip(builds) {
            let (state, platforms) = expected_cell(build, image);
            assert_eq!(
                (cell["state"].as_str().unwrap(), cell["platforms"].as_str()),
                (state.as_str(), platforms.as_deref()),
                "{image} in {}",
                build["tag"]
            );
            symbols
                .entry(state.clone())
                .or_default()
                .insert(cell["symbol"].as_str().unwrap().to_string());
            colours
                .entry(state.clone())
                .or_default()
                .insert(cell["background"].as_str().unwrap().to_string());
            seen.insert(state);
        }
    }
    assert_eq!(
        seen.len(),
        5,
        "the fixture shows every kind of cell: {seen:?}"
    );
    // One symbol and one colour per state, none shared: readable without
    // colour, and with it.
    for map in [&symbols, &colours] {
        assert!(map.values().all(|s| s.len() == 1), "{map:?}");
        let distinct: BTreeSet<_> = map.values().flatten().collect();
        assert_eq!(distinct.len(), 5, "{map:?}");
    }
    assert_eq!(
        dom["legend"],
        serde_json::json!([
            "present",
            "missing",
            "platform-short",
            "unverified",
            "not-expected"
        ])
    );

    // The list of images missing most often is the JSON's image_stats, in
    // its order, less the images that never failed.
    let failed: Vec<&Value> = doc["image_stats"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| {
            s["builds_missing"].as_u64().unwrap() + s["builds_short_of_platforms"].as_u64().unwrap()
                > 0
        })
        .collect();
    assert_eq!(
        dom["most_often"]
            .as_array()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        failed
    );
    // glance's absence from rocky-5 (in progress) is not a failure.
    let names: Vec<&str> = failed
        .iter()
        .map(|s| s["image"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["nova", "old", "base"]);
}

/// Linaro's real set (250 images) over 60 builds: the page stays small,
/// the headers stay in view wherever the matrix is scrolled, the page itself
/// never scrolls sideways, and the print layout fits a landscape page.
#[test]
fn a_250_by_60_matrix_keeps_its_headers_in_view_and_prints() {
    let manifest = repo_file("manifests/linaro-kolla.yaml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let images: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- debian-source-"))
        .collect();
    assert_eq!(images.len(), 250);
    let mut hub = FakeHub::builder();
    let mut seed = 12;
    for image in &images {
        let mut r = hub.repo("linaro", &format!("debian-source-{image}"));
        for i in 1..=60i64 {
            let name = format!("rocky-{i}");
            let pushed = ago((61 - i) * 12);
            r = match splitmix64(&mut seed) % 200 {
                0..=2 => r,                                            // missing
                3 => r.tag_platforms(&name, pushed, &["linux/amd64"]), // short of arm64
                4 => r.tag_with(unstated(&name, pushed)),              // unstated
                _ => r.tag_platforms(&name, pushed, &["linux/arm64"]),
            };
        }
        hub = r.done();
    }
    let hub = hub.start();
    let out = run(tagsweep()
        .args(["audit", "--format", "html", "-m"])
        .arg(&manifest)
        .env("TAGSWEEP_HUB_URL", hub.url()));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let html = out.stdout;
    assert_self_contained(&html);
    assert_eq!(html.matches("<td data-state=").count(), 250 * 60);
    assert!(
        html.len() < 1_000_000,
        "250 × 60 cells in {} bytes",
        html.len()
    );
    eprintln!("250 images x 60 builds: {} bytes of HTML", html.len());

    let w = Workdir::new();
    let dir = artifacts();
    let page = dir.join("matrix-250x60.html");
    std::fs::write(&page, &html).unwrap();
    screenshot(&page, &dir.join("matrix-250x60.png"), (1280, 900));

    let dom = probe(&html, w.path(), "probe.html", (1280, 900));
    let s = &dom["sticky"];
    assert_eq!(s["header_position"], "sticky");
    assert_eq!(s["row_header_position"], "sticky");
    assert_eq!(s["scrolls_down"], true, "250 rows scroll inside their box");
    assert_eq!(
        s["scrolls_right"], true,
        "60 builds scroll inside their box"
    );
    let near = |a: &Value, b: &Value| (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() <= 1.0;
    assert!(
        near(&s["header_top"], &s["content_top"]),
        "scrolled to the last row, the build headers stay at the top: {s}"
    );
    assert!(
        near(&s["row_header_left"], &s["content_left"]),
        "scrolled to the oldest build, the image names stay at the left: {s}"
    );
    assert!(
        dom["page"]["scroll_width"].as_f64() <= dom["page"]["inner_width"].as_f64(),
        "the page itself does not scroll sideways: {}",
        dom["page"]
    );

    // What a reader sees mid-scroll, kept beside the others.
    let scrolled = w.write(
        "scrolled.html",
        &html.replace(
            "</body>",
            "<script>const box = document.querySelector('.scroll'); \
             box.scrollTop = 1500; box.scrollLeft = 300;</script></body>",
        ),
    );
    screenshot(
        &scrolled,
        &dir.join("matrix-250x60-scrolled.png"),
        (1280, 1400),
    );

    // Print: the print rules, applied on screen at the width of a landscape
    // A4 page less its margins (277 mm = 1047 CSS px), fit every column.
    let print_rules = html.replacen("@media print", "@media all", 1);
    assert_ne!(print_rules, html, "the page has print rules");
    let printed = probe(&print_rules, w.path(), "print.html", (1047, 800));
    assert!(
        printed["table_width"].as_f64().unwrap() <= 1047.0,
        "60 builds fit a landscape page: {}",
        printed["table_width"]
    );
    let pdf = dir.join("matrix-250x60.pdf");
    browse(
        &page,
        (1280, 900),
        &[
            "--no-pdf-header-footer".to_string(),
            format!("--print-to-pdf={}", pdf.display()),
        ],
    );
    let bytes = std::fs::read(&pdf).expect("the PDF");
    assert!(bytes.starts_with(b"%PDF"), "a PDF");
    // The page tree's `/Count`: 250 rows over a few landscape pages, not
    // one page per screenful nor a clipped single page.
    let text = String::from_utf8_lossy(&bytes);
    let pages = text
        .split("/Count ")
        .skip(1)
        .filter_map(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<usize>()
                .ok()
        })
        .max()
        .expect("a page count in the PDF");
    eprintln!("printed: {} bytes, {pages} pages", bytes.len());
    assert!((2..=10).contains(&pages), "{pages} pages");
}

/// Reads `script`'s answer (a JSON string it puts in `<pre id="probe">`)
/// from the page as the browser laid it out.
fn probe_with(html: &str, dir: &Path, name: &str, window: (u32, u32), script: &str) -> Value {
    let page = dir.join(name);
    let script = format!(
        "<script id=\"probe-script\">(function () {{ const out = ({script})(); \
         const pre = document.createElement('pre'); pre.id = 'probe'; \
         pre.textContent = JSON.stringify(out); document.body.appendChild(pre); }})();</script>"
    );
    std::fs::write(&page, html.replace("</body>", &format!("{script}</body>"))).unwrap();
    let dom = browse(&page, window, &["--dump-dom".to_string()]);
    let start = dom
        .find("<pre id=\"probe\">")
        .unwrap_or_else(|| panic!("the probe did not run; the DOM:\n{dom}"))
        + "<pre id=\"probe\">".len();
    let end = start + dom[start..].find("</pre>").expect("end of the probe");
    serde_json::from_str(&dom[start..end]).expect("the probe's JSON")
}

/// 300 repositories outside the manifest carrying build tags, and 300
/// images without a repository: each list names 10, then `+290 more`, a
/// `<details>` holding all 300, and the matrix still starts on the first
/// screen; opened, the details show every name.
#[test]
fn long_repository_lists_leave_the_matrix_in_view() {
    let w = Workdir::new();
    let tag = |n: u32| {
        serde_json::json!({
            "name": format!("rocky-{n}"),
            "digest": format!("sha256:{n:064x}"),
            "pushed": format!("2026-11-{:02}T10:00:00Z", 10 + n),
            "platforms": ["linux/amd64"],
        })
    };
    let mut repositories = serde_json::Map::new();
    for image in ["base", "nova", "glance"] {
        repositories.insert(
            format!("debian-source-{image}"),
            serde_json::json!({"private": false, "tags": (1..=3).map(tag).collect::<Vec<_>>()}),
        );
    }
    for i in 0..300 {
        repositories.insert(
            format!("debian-source-extra-{i:03}"),
            serde_json::json!({"private": false, "tags": [tag(1)]}),
        );
    }
    let snapshot = serde_json::json!({
        "format": 2, "registry": "docker.io", "namespace": "linaro",
        "taken_at": "2026-11-20T12:00:00Z", "repositories": repositories,
    });
    w.write("inventory.json", &snapshot.to_string());
    let typos: String = (0..300)
        .map(|i| format!("  - debian-source-typo-{i:03}\n"))
        .collect();
    w.write(
        "m.yaml",
        &format!(
            "namespace: linaro\nbuilds: {{pattern: '^rocky-\\d+$'}}\nimages:\n  - debian-source-base\n  - debian-source-nova\n  - debian-source-glance\n{typos}"
        ),
    );
    let out = run(tagsweep().current_dir(w.path()).args([
        "audit",
        "-m",
        "m.yaml",
        "--from",
        "inventory.json",
        "--format",
        "html",
    ]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    let html = out.stdout;
    for (id, what) in [
        ("unexpected-repositories", "extra"),
        ("missing-repositories", "typo"),
    ] {
        let start = html.find(&format!("id=\"{id}\"")).unwrap();
        let block = &html[start..start + html[start..].find("</div>").unwrap()];
        let (shown, details) = block.split_once("<details").expect(id);
        assert_eq!(shown.matches("<code>debian-source-").count(), 10, "{block}");
        assert!(details.contains("<summary>+290 more</summary>"), "{block}");
        assert_eq!(
            details
                .matches(&format!("<code>debian-source-{what}-"))
                .count(),
            300
        );
    }

    let dir = artifacts();
    let page = dir.join("long-lists.html");
    std::fs::write(&page, &html).unwrap();
    screenshot(&page, &dir.join("long-lists.png"), (1280, 900));
    let script = "() => {
      const shown = id => Array.from(document.querySelectorAll('#' + id + ' code'))
        .filter(c => c.textContent.startsWith('debian-source-') && c.checkVisibility()).length;
      const read = () => ({
        matrix_top: document.querySelector('.scroll').getBoundingClientRect().top,
        unexpected: shown('unexpected-repositories'),
        missing: shown('missing-repositories'),
      });
      const closed = read();
      document.querySelectorAll('details').forEach(d => d.open = true);
      return {closed: closed, open: read()};
    }";
    let dom = probe_with(&html, w.path(), "probe.html", (1280, 900), script);
    let closed = &dom["closed"];
    assert_eq!(closed["unexpected"], 10, "{dom}");
    assert_eq!(closed["missing"], 10, "{dom}");
    assert!(
        closed["matrix_top"].as_f64().unwrap() < 900.0,
        "the matrix starts on the first screen: {dom}"
    );
    assert_eq!(dom["open"]["unexpected"], 310, "{dom}");
    assert_eq!(dom["open"]["missing"], 310, "{dom}");
}
