//! The audit benchmark: tagsweep against the fake Docker Hub, side by side
//! with the original approach (one request at a time, following `next`), in
//! the same run, on the same server.
//!
//! ```sh
//! cargo bench --bench audit                       # the full run (about a minute)
//! cargo bench --bench audit -- --smoke            # tiny sizes: proves it works (CI)
//! cargo bench --bench audit -- --repos 200 --tags 300 --latency-ms 20 --limit 60 --window-s 10
//! cargo bench --bench audit -- --only retention   # one scenario (latency, rate, snapshot, retention, incremental)
//! ```
//!
//! Scenarios:
//! * **latency**: every answer takes `--latency-ms`; no rate limit. Bound:
//!   requests × round trip ÷ concurrency, the round trip being what one
//!   request costs the sequential client on the same server (latency plus the
//!   server's work); target ≤ 1.25 × bound, and ≥ 8× the sequential client.
//! * **rate-limited**: the server allows `--limit` requests per `--window-s`
//!   (with the rate-limit headers, the reset written as `--reset ceil`,
//!   `floor` or `delta`; every answer `--rate-latency-ms` late). Bound:
//!   requests answered (not 429) ÷ allowed rate; target ≤ 1.05 × bound and
//!   no 429. `TAGSWEEP_BENCH_BIN=path` measures another build of tagsweep
//!   (before/after).
//! * **1M tags**: 2,000 repositories × 500 tags audited from a snapshot file.
//!   Targets: peak RSS < 200 MB; grouping and evaluation ≥ 500,000 tags/s.
//! * **retention**: 1,000 builds × 250 images (two streams, keep 5, max_age
//!   30d, a build a day, every tenth broken) from an in-memory inventory, in a process
//!   of its own (this binary, `--retention-child`): the audit with its
//!   retention verdicts, then the `prune --expired` plan. In-process time and
//!   the process's peak RSS.
//! * **incremental**: `--inc-repos` × `--inc-tags` (250 × 600) under a
//!   binding rate limit (`--inc-limit` per `--inc-window-s`: 180 per 6 s,
//!   Docker Hub's 180 a minute ten times faster): a first audit keeps the
//!   inventory; one build is pushed to every repository; then the
//!   incremental audit, a full one of the same state (their reports must be
//!   equal), and an incremental one after no change. Target: ≥ 5× fewer
//!   requests than the full audit.
//! * The latency scenario also runs an **ideal lister**: the lower-bound
//!   requests, `-j` in flight, no dependency but the login, on the same
//!   server — the yardstick of a full listing's wall time (target ≤ 1.05×).
//!   Both run `--repeat` times (5), by turns; the medians are compared.
//!
//! Requests are counted by the server; "lower bound" is 1 login +
//! ceil(repositories/100) + Σ ceil(tags/100).

#[path = "../tests/cli/support/fakehub.rs"]
#[allow(dead_code, unused_imports)]
mod fakehub;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use fakehub::{FakeHub, FakeHubBuilder};

const NS: &str = "linaro";
const USER: &str = "bench-bot";
const SECRET: &str = "dckr_pat_bench";

struct Options {
    repos: usize,
    tags: usize,
    latency: Duration,
    rated_repos: usize,
    limit: u64,
    window: Duration,
    /// Latency of every answer in the rate-limited scenario.
    rate_latency: Duration,
    /// How the rate-limited server writes `X-RateLimit-Reset`.
    reset: fakehub::ResetStyle,
    big_repos: usize,
    big_tags: usize,
    large_repos: usize,
    large_tags: usize,
    concurrency: usize,
    /// Runs of tagsweep and of the ideal lister in the latency scenario
    /// (by turns; the medians are reported).
    repeat: usize,
    retention_builds: usize,
    retention_images: usize,
    /// The incremental scenario: repositories, tags each, rate limit.
    inc_repos: usize,
    inc_tags: usize,
    inc_limit: u64,
    inc_window: Duration,
    /// Run only this scenario: latency, rate, snapshot, retention or incremental.
    only: Option<String>,
}

impl Options {
    fn runs(&self, scenario: &str) -> bool {
        self.only.as_deref().is_none_or(|only| only == scenario)
    }
}

impl Options {
    fn parse() -> Options {
        let mut o = Options {
            repos: 200,
            tags: 300,
            latency: Duration::from_millis(20),
            rated_repos: 40,
            limit: 60,
            window: Duration::from_secs(10),
            rate_latency: Duration::ZERO,
            reset: fakehub::ResetStyle::UnixCeil,
            big_repos: 2000,
            big_tags: 500,
            large_repos: 4,
            large_tags: 3000,
            concurrency: 16,
            repeat: 5,
            retention_builds: 1000,
            retention_images: 250,
            inc_repos: 250,
            inc_tags: 600,
            inc_limit: 180,
            inc_window: Duration::from_secs(6),
            only: None,
        };
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut i = 0;
        while i < args.len() {
            let value = |i: usize| -> u64 {
                args.get(i + 1)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("{} needs a number", args[i]))
            };
            match args[i].as_str() {
                "--smoke" => {
                    o = Options {
                        repos: 12,
                        tags: 150,
                        latency: Duration::from_millis(5),
                        rated_repos: 6,
                        limit: 10,
                        window: Duration::from_secs(1),
                        rate_latency: Duration::ZERO,
                        reset: o.reset,
                        big_repos: 200,
                        big_tags: 100,
                        large_repos: 2,
                        large_tags: 450,
                        concurrency: 16,
                        repeat: 1,
                        retention_builds: 60,
                        retention_images: 20,
                        inc_repos: 12,
                        inc_tags: 250,
                        inc_limit: 40,
                        inc_window: Duration::from_secs(1),
                        only: o.only.take(),
                    };
                    i += 1;
                    continue;
                }
                "--repos" => o.repos = value(i) as usize,
                "--tags" => o.tags = value(i) as usize,
                "--latency-ms" => o.latency = Duration::from_millis(value(i)),
                "--rated-repos" => o.rated_repos = value(i) as usize,
                "--limit" => o.limit = value(i),
                "--window-s" => o.window = Duration::from_secs(value(i)),
                "--rate-latency-ms" => o.rate_latency = Duration::from_millis(value(i)),
                "--reset" => {
                    o.reset = match args.get(i + 1).map(String::as_str) {
                        Some("ceil") => fakehub::ResetStyle::UnixCeil,
                        Some("floor") => fakehub::ResetStyle::UnixFloor,
                        Some("delta") => fakehub::ResetStyle::Delta,
                        _ => panic!("--reset takes ceil, floor or delta"),
                    }
                }
                "--big-repos" => o.big_repos = value(i) as usize,
                "--big-tags" => o.big_tags = value(i) as usize,
                "--large-repos" => o.large_repos = value(i) as usize,
                "--large-tags" => o.large_tags = value(i) as usize,
                "-j" | "--concurrency" => o.concurrency = value(i) as usize,
                "--repeat" => o.repeat = value(i) as usize,
                "--retention-builds" => o.retention_builds = value(i) as usize,
                "--retention-images" => o.retention_images = value(i) as usize,
                "--inc-repos" => o.inc_repos = value(i) as usize,
                "--inc-tags" => o.inc_tags = value(i) as usize,
                "--inc-limit" => o.inc_limit = value(i),
                "--inc-window-s" => o.inc_window = Duration::from_secs(value(i)),
                "--only" => {
                    let scenario = args.get(i + 1).cloned().unwrap_or_default();
                    assert!(
                        ["latency", "rate", "snapshot", "retention", "incremental"]
                            .contains(&scenario.as_str()),
                        "--only takes latency, rate, snapshot, retention or incremental"
                    );
                    o.only = Some(scenario);
                }
                // cargo bench passes --bench; ignore what we do not know.
                _ => {
                    i += 1;
                    continue;
                }
            }
            i += 2;
        }
        o
    }
}

/// A namespace of `repos` images with `tags` build tags each.
fn namespace(repos: usize, tags: usize) -> FakeHubBuilder {
    let start = Utc::now() - TimeDelta::days(400);
    let mut b = FakeHub::builder().account(USER, SECRET, false);
    for r in 0..repos {
        b = b
            .repo(NS, &image(r))
            .numbered_tags("rocky-", tags, start, TimeDelta::hours(6))
            .done();
    }
    b
}

fn image(r: usize) -> String {
    format!("debian-source-image-{r:04}")
}

fn write_manifest(dir: &Path, repos: usize) -> std::path::PathBuf {
    let mut m = String::from("namespace: linaro\nbuilds:\n  pattern: '^rocky-\\d+$'\nimages:\n");
    for r in 0..repos {
        m.push_str(&format!("  - {}\n", image(r)));
    }
    let p = dir.join(format!("bench-{repos}.yaml"));
    std::fs::write(&p, m).unwrap();
    p
}

fn lower_bound(repos: usize, tags_per_repo: usize) -> u64 {
    let pages = |n: usize| n.div_ceil(100).max(1) as u64;
    1 + pages(repos) + repos as u64 * pages(tags_per_repo)
}

struct Measured {
    requests: u64,
    wall: Duration,
    peak_rss_kb: Option<u64>,
    ok: bool,
    /// What tagsweep printed (its JSON report), when it was kept.
    stdout: String,
}

/// The tagsweep measured: this build's, or `$TAGSWEEP_BENCH_BIN` (an older
/// build, for a before/after comparison on the same server).
fn tagsweep_binary() -> std::path::PathBuf {
    std::env::var_os("TAGSWEEP_BENCH_BIN")
        .filter(|p| !p.is_empty())
        .map(Into::into)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_tagsweep").into())
}

/// Runs tagsweep and measures wall time and the child's peak RSS (wait4).
fn run_tagsweep(args: &[&str], hub: Option<&FakeHub>) -> Measured {
    // Never the user's cache directory: a cache of its own, for this run
    // of the benchmark (its scenarios use distinct servers, so nothing
    // carries over between them).
    static CACHE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(|| tempfile::tempdir().expect("a cache directory"));
    let mut cmd = Command::new(tagsweep_binary());
    cmd.args(args)
        .env_clear()
        .env("XDG_CACHE_HOME", cache.path())
        .env("DOCKERHUB_USERNAME", USER)
        .env("DOCKERHUB_TOKEN", SECRET)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(h) = hub {
        cmd.env("TAGSWEEP_HUB_URL", h.url());
        h.clear_requests();
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("start tagsweep");
    // Read while it runs: a report larger than the pipe must not stall it.
    let stdout = child.stdout.take().map(|mut out| {
        std::thread::spawn(move || {
            use std::io::Read;
            let mut text = String::new();
            out.read_to_string(&mut text).ok();
            text
        })
    });
    let (status, peak_kb) = wait_with_peak_rss(&mut child);
    let wall = started.elapsed();
    let stdout = stdout
        .and_then(|reader| reader.join().ok())
        .unwrap_or_default();
    let ok = status.code().is_some_and(|c| c <= 1);
    if !ok {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            use std::io::Read;
            e.read_to_string(&mut err).ok();
        }
        eprintln!("tagsweep {args:?} failed: {err}");
    }
    Measured {
        requests: hub.map_or(0, |h| h.requests().len() as u64),
        wall,
        peak_rss_kb: peak_kb,
        ok,
        stdout,
    }
}

/// `POST /v2/auth/token` as the benchmark's account: the access token.
async fn log_in(client: &reqwest::Client, base: &str) -> reqwest::Result<String> {
    let token: serde_json::Value = client
        .post(format!("{base}/v2/auth/token"))
        .json(&serde_json::json!({"identifier": USER, "secret": SECRET}))
        .send()
        .await?
        .json()
        .await?;
    Ok(token["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

/// The original approach: log in, then one request at a time, following `next`.
fn sequential_baseline(hub: &FakeHub) -> Measured {
    hub.clear_requests();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let ok = rt.block_on(async {
        let client = reqwest::Client::new();
        let base = hub.url();
        let token = log_in(&client, &base).await?;
        let get_all = |first: String| {
            let client = client.clone();
            let token = token.clone();
            async move {
                let mut next = Some(first);
                let mut items = Vec::new();
                while let Some(url) = next {
                    let page: serde_json::Value = client
                        .get(&url)
                        .bearer_auth(&token)
                        .send()
                        .await?
                        .json()
                        .await?;
                    items.extend(page["results"].as_array().cloned().unwrap_or_default());
                    next = page["next"].as_str().map(String::from);
                }
                Ok::<_, reqwest::Error>(items)
            }
        };
        let repos = get_all(format!(
            "{base}/v2/namespaces/{NS}/repositories?page_size=100"
        ))
        .await?;
        for r in repos {
            let name = r["name"].as_str().unwrap_or_default();
            get_all(format!(
                "{base}/v2/namespaces/{NS}/repositories/{name}/tags?page_size=100"
            ))
            .await?;
        }
        Ok::<_, reqwest::Error>(())
    });
    Measured {
        requests: hub.requests().len() as u64,
        wall: started.elapsed(),
        peak_rss_kb: None,
        ok: ok.is_ok(),
        stdout: String::new(),
    }
}

/// What any audit must read of a page: the count, and each item's name,
/// digest and push time.
#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct IdealPage {
    count: u64,
    results: Vec<IdealItem>,
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct IdealItem {
    name: String,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    tag_last_pushed: Option<String>,
}

/// The yardstick of a full listing at `-j`: the floor any client can reach
/// on this server. It makes the lower-bound requests and waits only for
/// what it cannot know beforehand — the login; a listing's first page,
/// whose `count` says how many pages follow (then read all at once); a
/// repository's name, before its tags — with `j` requests in flight in all,
/// each page parsed for what an audit needs of it, a repository's tags
/// started as soon as a repository page names it (as tagsweep does).
fn ideal_lister(hub: &FakeHub, j: usize) -> Measured {
    use std::sync::Arc;
    hub.clear_requests();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let ok = rt.block_on(async {
        let client = reqwest::Client::new();
        let base = hub.url();
        let token: Arc<str> = log_in(&client, &base).await?.into();
        let permits = Arc::new(tokio::sync::Semaphore::new(j));
        let get = {
            let (client, token, permits) = (client.clone(), token.clone(), permits.clone());
            move |url: String| {
                let (client, token, permits) = (client.clone(), token.clone(), permits.clone());
                async move {
                    let _permit = permits.acquire().await.expect("open");
                    let body = client
                        .get(url)
                        .bearer_auth(&*token)
                        .send()
                        .await?
                        .bytes()
                        .await?;
                    Ok::<IdealPage, reqwest::Error>(serde_json::from_slice(&body).expect("a page"))
                }
            }
        };
        let pages = |count: u64| (count as usize).div_ceil(100).max(1);
        // Every page of a listing: the first, then the rest at once.
        let listing = {
            let get = get.clone();
            move |first: String| {
                let get = get.clone();
                async move {
                    let page1 = get(format!("{first}&page=1")).await?;
                    let rest = futures::future::join_all(
                        (2..=pages(page1.count)).map(|p| get(format!("{first}&page={p}"))),
                    )
                    .await;
                    let mut all = vec![page1];
                    for page in rest {
                        all.push(page?);
                    }
                    Ok::<Vec<IdealPage>, reqwest::Error>(all)
                }
            }
        };
        let tags_of = |name: String| {
            tokio::spawn(listing(format!(
                "{base}/v2/namespaces/{NS}/repositories/{name}/tags?page_size=100"
            )))
        };
        let repos = format!("{base}/v2/namespaces/{NS}/repositories?page_size=100");
        let first = get(format!("{repos}&page=1")).await?;
        let rest = tokio::spawn(futures::future::join_all(
            (2..=pages(first.count)).map(|p| get(format!("{repos}&page={p}"))),
        ));
        let mut tasks: Vec<_> = first.results.into_iter().map(|r| tags_of(r.name)).collect();
        for page in rest.await.expect("repository pages") {
            tasks.extend(page?.results.into_iter().map(|r| tags_of(r.name)));
        }
        for task in tasks {
            std::hint::black_box(task.await.expect("a listing")?);
        }
        Ok::<(), reqwest::Error>(())
    });
    Measured {
        requests: hub.requests().len() as u64,
        wall: started.elapsed(),
        peak_rss_kb: None,
        ok: ok.is_ok(),
        stdout: String::new(),
    }
}

struct Row {
    scenario: String,
    m: Measured,
    lower: Option<u64>,
    bound: Option<Duration>,
    note: String,
}

/// Waits for `child`, reading its peak RSS: the kernel's high-water mark of
/// the child's own address space (VmHWM), until it exits. (wait4's
/// ru_maxrss would also count this process's pages at spawn time.)
fn wait_with_peak_rss(child: &mut std::process::Child) -> (std::process::ExitStatus, Option<u64>) {
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kb = None;
    let status = loop {
        if let Some(kb) = std::fs::read_to_string(&status_file)
            .ok()
            .and_then(|s| vm_hwm_kb(&s))
        {
            peak_kb = Some(peak_kb.map_or(kb, |p: u64| p.max(kb)));
        }
        match child.try_wait().expect("wait for the child") {
            Some(status) => break status,
            None => std::thread::sleep(Duration::from_millis(2)),
        }
    };
    (status, peak_kb)
}

fn vm_hwm_kb(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn print_table(rows: &[Row]) {
    println!(
        "\n{:<34} {:>8} {:>8} {:>10} {:>10} {:>7} {:>9}  notes",
        "scenario", "requests", "lower", "wall", "bound", "ratio", "peak RSS"
    );
    for r in rows {
        let ratio = r.bound.map(|b| r.m.wall.as_secs_f64() / b.as_secs_f64());
        println!(
            "{:<34} {:>8} {:>8} {:>10} {:>10} {:>7} {:>9}  {}{}",
            r.scenario,
            r.m.requests,
            r.lower.map_or("-".into(), |l| l.to_string()),
            format!("{:.2}s", r.m.wall.as_secs_f64()),
            r.bound
                .map_or("-".into(), |b| format!("{:.2}s", b.as_secs_f64())),
            ratio.map_or("-".into(), |x| format!("{x:.2}")),
            r.m.peak_rss_kb
                .map_or("-".into(), |kb| format!("{:.1} MB", kb as f64 / 1024.0)),
            if r.m.ok { "" } else { "FAILED " },
            r.note
        );
    }
}

/// `tagsweep audit --format json -j J -m MANIFEST --no-cache` against
/// `hub`: a full audit, which neither reads nor writes a cache.
fn audit(manifest: &Path, j: &str, hub: &FakeHub) -> Measured {
    run_tagsweep(
        &[
            "audit",
            "--format",
            "json",
            "--no-cache",
            "-j",
            j,
            "-m",
            manifest.to_str().unwrap(),
        ],
        Some(hub),
    )
}

/// The run of median wall time (the later of the two middle ones for an
/// even count).
fn median(mut runs: Vec<Measured>) -> Measured {
    runs.sort_by_key(|m| m.wall);
    let middle = runs.len() / 2;
    runs.swap_remove(middle)
}

/// tagsweep and the sequential client against one server whose every answer
/// takes `--latency-ms`. The round trip is what one request costs a client
/// that makes one at a time on this server (the baseline's wall time ÷ its
/// requests): the added latency plus the server's own work.
fn latency_bound(o: &Options, dir: &Path, repos: usize, tags: usize, target: &str) -> [Row; 3] {
    let hub = namespace(repos, tags).latency(o.latency).start();
    let manifest = write_manifest(dir, repos);
    let seq = sequential_baseline(&hub);
    let rtt = seq.wall.div_f64(seq.requests.max(1) as f64);
    let j = o.concurrency.to_string();
    // tagsweep and the ideal lister by turns, `--repeat` times each: the
    // median of each, and the range of the ratios of each pair.
    let mut ours = Vec::new();
    let mut ideals = Vec::new();
    for _ in 0..o.repeat.max(1) {
        ours.push(audit(&manifest, &j, &hub));
        ideals.push(ideal_lister(&hub, o.concurrency));
    }
    let ratios: Vec<f64> = ours
        .iter()
        .zip(&ideals)
        .map(|(m, i)| m.wall.as_secs_f64() / i.wall.as_secs_f64())
        .collect();
    let m = median(ours);
    let ideal = median(ideals);
    let bound = rtt.mul_f64(m.requests as f64 / o.concurrency as f64);
    let speedup = seq.wall.as_secs_f64() / m.wall.as_secs_f64();
    let to_ideal = m.wall.as_secs_f64() / ideal.wall.as_secs_f64();
    let runs = if ratios.len() > 1 {
        let (lo, hi) = ratios
            .iter()
            .fold((f64::MAX, 0f64), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
        format!(
            "median of {} runs each, taken by turns (pairs {lo:.2}-{hi:.2}); ",
            ratios.len()
        )
    } else {
        String::new()
    };
    [
        Row {
            scenario: format!(
                "latency {}ms, {repos}x{tags}, -j {}",
                o.latency.as_millis(),
                o.concurrency
            ),
            lower: Some(lower_bound(repos, tags)),
            bound: Some(bound),
            note: format!(
                "bound = requests x rtt ({:.1} ms) / j; {target}",
                rtt.as_secs_f64() * 1000.0
            ),
            m,
        },
        Row {
            scenario: format!("  ideal lister, -j {}", o.concurrency),
            lower: Some(lower_bound(repos, tags)),
            bound: None,
            note: format!(
                "lower-bound requests, waiting only for what it cannot know; {runs}tagsweep takes {to_ideal:.2}x its time (target <= 1.05)"
            ),
            m: ideal,
        },
        Row {
            scenario: "  sequential baseline (same server)".into(),
            lower: Some(lower_bound(repos, tags)),
            bound: None,
            note: format!("tagsweep is {speedup:.1}x faster (target >= 8x)"),
            m: seq,
        },
    ]
}

/// Full against incremental audits of `--inc-repos` × `--inc-tags` under a
/// binding rate limit (`--inc-limit` per `--inc-window-s`): a first audit
/// keeps the inventory; one new build is pushed to every repository; then
/// the incremental audit, a full one (`--no-cache`) of the same state — their
/// reports must be equal — and an incremental one after no change. Each run
/// starts with a fresh rate-limit window.
fn incremental(o: &Options, dir: &Path) -> Vec<Row> {
    let (repos, tags) = (o.inc_repos, o.inc_tags);
    let hub = namespace(repos, tags)
        .rate_limit(o.inc_limit, o.inc_window)
        .latency(o.rate_latency)
        .start();
    let manifest = write_manifest(dir, repos);
    let cache = dir.join("inventory-cache");
    let rate = o.inc_limit as f64 / o.inc_window.as_secs_f64();
    let j = o.concurrency.to_string();
    // One time to judge every run as of, so that their reports compare.
    let now = (Utc::now() + TimeDelta::hours(1)).to_rfc3339();
    let run = |cached: bool| {
        hub.state().reset_rate_limits();
        let mut args = vec!["audit", "--format", "json", "-j", j.as_str(), "--now", &now];
        args.extend(["-m", manifest.to_str().unwrap()]);
        if cached {
            args.extend(["--cache-dir", cache.to_str().unwrap()]);
        } else {
            args.push("--no-cache");
        }
        let m = run_tagsweep(&args, Some(&hub));
        let limited = hub.requests().iter().filter(|r| r.status == 429).count();
        (m, limited)
    };
    let bound = |m: &Measured| Some(Duration::from_secs_f64(m.requests as f64 / rate));
    let (first, first_429) = run(true);
    let build = format!("rocky-{}", tags + 1);
    let pushed = Utc::now();
    {
        let mut state = hub.state();
        for r in 0..repos {
            state.push_tag(NS, &image(r), fakehub::Tag::new(&build, pushed));
        }
    }
    let (after_push, after_push_429) = run(true);
    let (full, full_429) = run(false);
    let (unchanged, unchanged_429) = run(true);
    let report = |m: &Measured| {
        serde_json::from_str::<serde_json::Value>(&m.stdout)
            .ok()
            .map(|mut doc| {
                doc.as_object_mut().map(|d| d.remove("stats"));
                doc
            })
    };
    let same = report(&after_push).is_some() && report(&after_push) == report(&full);
    let fewer = full.requests as f64 / after_push.requests.max(1) as f64;
    let faster = full.wall.as_secs_f64() / after_push.wall.as_secs_f64();
    let fewer_unchanged = full.requests as f64 / unchanged.requests.max(1) as f64;
    let faster_unchanged = full.wall.as_secs_f64() / unchanged.wall.as_secs_f64();
    vec![
        Row {
            scenario: format!(
                "incremental {repos}x{tags}, rate {}/{}s",
                o.inc_limit,
                o.inc_window.as_secs()
            ),
            lower: Some(lower_bound(repos, tags)),
            bound: bound(&first),
            note: format!(
                "the first audit: lists everything, keeps the inventory (--cache-dir); {first_429} x 429"
            ),
            m: first,
        },
        Row {
            scenario: "  1 build pushed: full audit".into(),
            lower: Some(lower_bound(repos, tags + 1)),
            bound: bound(&full),
            note: format!("--no-cache; bound = requests / rate; {full_429} x 429"),
            m: full,
        },
        Row {
            scenario: "  1 build pushed: incremental".into(),
            lower: None,
            bound: bound(&after_push),
            note: format!(
                "{fewer:.1}x fewer requests (target >= 5x), {faster:.1}x faster than the full audit; report {}; {after_push_429} x 429",
                if same { "equal to the full audit's" } else { "DIFFERS from the full audit's" }
            ),
            m: Measured {
                ok: after_push.ok && same,
                ..after_push
            },
        },
        Row {
            scenario: "  no change: incremental".into(),
            lower: None,
            bound: bound(&unchanged),
            note: format!(
                "{fewer_unchanged:.1}x fewer requests, {faster_unchanged:.1}x faster than the full audit; {unchanged_429} x 429"
            ),
            m: unchanged,
        },
    ]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--retention-child") {
        let number = |i: usize| -> usize {
            args.get(at + i)
                .and_then(|v| v.parse().ok())
                .expect("--retention-child BUILDS IMAGES")
        };
        retention_child(number(1), number(2));
        return;
    }
    let o = Options::parse();
    let dir = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();

    // 1. Latency-bound: many repositories, then few large ones (whose pages
    // are read concurrently).
    if o.runs("latency") {
        rows.extend(latency_bound(
            &o,
            dir.path(),
            o.repos,
            o.tags,
            "target ratio <= 1.25",
        ));
        rows.extend(latency_bound(
            &o,
            dir.path(),
            o.large_repos,
            o.large_tags,
            "few large repositories",
        ));
    }
    // 2. Rate-limited.
    if o.runs("rate") {
        rows.push(rate_limited(&o, dir.path()));
    }
    // 3. A million tags from a snapshot.
    if o.runs("snapshot") {
        rows.extend(million_tags(&o, dir.path()));
    }
    // 4. Retention over a large set.
    if o.runs("retention") {
        rows.push(retention(&o));
    }
    // 5. Full against incremental audits under a binding rate limit.
    if o.runs("incremental") {
        rows.extend(incremental(&o, dir.path()));
    }

    print_table(&rows);
    if rows.iter().any(|r| !r.m.ok) {
        std::process::exit(1);
    }
}

fn rate_limited(o: &Options, dir: &Path) -> Row {
    let hub = namespace(o.rated_repos, o.tags)
        .rate_limit(o.limit, o.window)
        .latency(o.rate_latency)
        .reset_style(o.reset)
        .start();
    let manifest = write_manifest(dir, o.rated_repos);
    let m = audit(&manifest, &o.concurrency.to_string(), &hub);
    let allowed_per_s = o.limit as f64 / o.window.as_secs_f64();
    let limited = hub.requests().iter().filter(|r| r.status == 429).count();
    // The requests the audit needed: a 429 is waste, not work.
    let bound = Duration::from_secs_f64((m.requests - limited as u64) as f64 / allowed_per_s);
    Row {
        scenario: format!(
            "rate {}/{}s, {}x{}{}",
            o.limit,
            o.window.as_secs(),
            o.rated_repos,
            o.tags,
            match o.reset {
                fakehub::ResetStyle::UnixCeil => "",
                fakehub::ResetStyle::UnixFloor => ", reset floor",
                fakehub::ResetStyle::Delta => ", reset delta",
            }
        ),
        lower: Some(lower_bound(o.rated_repos, o.tags)),
        bound: Some(bound),
        note: format!(
            "bound = requests answered / rate; target ratio <= 1.05; {limited} answers were 429 (target 0)"
        ),
        m,
    }
}

fn million_tags(o: &Options, dir: &Path) -> [Row; 2] {
    let snapshot = dir.join("big.json");
    let big_manifest = write_manifest(dir, o.big_repos);
    {
        // Written, then dropped before tagsweep starts: a child's peak RSS
        // counts the parent's pages it was forked from.
        let inventory = big_inventory(o.big_repos, o.big_tags);
        let file = std::io::BufWriter::new(std::fs::File::create(&snapshot).unwrap());
        serde_json::to_writer(file, &inventory).unwrap();
    }
    let m = run_tagsweep(
        &[
            "audit",
            "--format",
            "json",
            "-m",
            big_manifest.to_str().unwrap(),
            "--from",
            snapshot.to_str().unwrap(),
        ],
        None,
    );
    let rss_ok = m.peak_rss_kb.is_some_and(|kb| kb < 200 * 1024);
    let from_snapshot = Row {
        scenario: format!("snapshot {}x{} tags", o.big_repos, o.big_tags),
        lower: None,
        bound: None,
        note: format!(
            "peak RSS target < 200 MB: {}",
            if rss_ok { "met" } else { "MISSED" }
        ),
        m,
    };
    let inventory = big_inventory(o.big_repos, o.big_tags);
    let manifest = tagsweep::manifest::load(&big_manifest).unwrap();
    let started = Instant::now();
    let report = tagsweep::policy::evaluate(
        &manifest,
        &inventory,
        Utc::now(),
        &tagsweep::policy::BuildSelection::All,
    );
    let took = started.elapsed();
    let rate = inventory.tag_count() as f64 / took.as_secs_f64();
    let in_process = Row {
        scenario: "  evaluate() in process, one core".into(),
        lower: None,
        bound: None,
        note: format!(
            "{:.0} tags/s over {} builds (target >= 500000)",
            rate, report.summary.builds
        ),
        m: Measured {
            requests: 0,
            wall: took,
            peak_rss_kb: None,
            ok: true,
            stdout: String::new(),
        },
    };
    [from_snapshot, in_process]
}

/// The retention row: this binary again, as `--retention-child`, measured
/// from outside for its peak RSS; the times come from inside.
fn retention(o: &Options) -> Row {
    let mut child = Command::new(std::env::current_exe().expect("the benchmark binary"))
        .args([
            "--retention-child",
            &o.retention_builds.to_string(),
            &o.retention_images.to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the retention child");
    let (status, peak_rss_kb) = wait_with_peak_rss(&mut child);
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        use std::io::Read;
        stdout.read_to_string(&mut out).ok();
    }
    let times: Vec<f64> = out
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let ok = status.success() && times.len() == 5;
    let [evaluate_ms, judge_ms, plan_ms, expired, builds] = times[..] else {
        return Row {
            scenario: "retention".into(),
            lower: None,
            bound: None,
            note: format!("the child failed: {out}"),
            m: Measured {
                requests: 0,
                wall: Duration::ZERO,
                peak_rss_kb,
                ok: false,
                stdout: String::new(),
            },
        };
    };
    Row {
        scenario: format!(
            "retention {}x{} images",
            o.retention_builds, o.retention_images
        ),
        lower: None,
        bound: None,
        note: format!(
            "in process: evaluate() with verdicts {evaluate_ms:.1} ms (judge() alone {judge_ms:.2} ms), \
             --expired plan {plan_ms:.1} ms; {expired} of {builds} builds expire; peak RSS of the whole process"
        ),
        m: Measured {
            requests: 0,
            wall: Duration::from_secs_f64((evaluate_ms + plan_ms) / 1000.0),
            peak_rss_kb,
            ok,
            stdout: String::new(),
        },
    }
}

/// `--retention-child BUILDS IMAGES`: builds the inventory in memory, then
/// times the audit (with retention verdicts), retention's judgement alone,
/// and the `--expired` plan; prints `evaluate_ms judge_ms plan_ms expired
/// builds`.
fn retention_child(builds: usize, images: usize) {
    use tagsweep::policy::prune::{plan, PruneRequest};
    use tagsweep::policy::{evaluate, retention, BuildSelection};

    let now = Utc::now();
    let mut yaml = String::from(
        "namespace: linaro\nbuilds:\n  pattern: '^(?P<stream>rocky|stein)-\\d+$'\n  grace: 2h\nretention:\n  keep: 5\n  max_age: 30d\nimages:\n",
    );
    for r in 0..images {
        yaml.push_str(&format!("  - {}\n", image(r)));
    }
    let manifest = tagsweep::manifest::parse_str("bench.yaml", &yaml).expect("a valid manifest");
    let inventory = retention_inventory(builds, images, now);

    let started = Instant::now();
    let report = evaluate(&manifest, &inventory, now, &BuildSelection::All);
    let evaluated = started.elapsed();
    let policy = manifest.retention.as_ref().expect("retention");
    let started = Instant::now();
    let verdicts = retention::judge(&manifest.builds, policy, &report.builds, now);
    let judged = started.elapsed();
    let request = PruneRequest {
        expired: true,
        max_builds: usize::MAX,
        ..PruneRequest::default()
    };
    let started = Instant::now();
    let planned = plan(&manifest, &inventory, &report, &request, None).expect("a plan");
    let planned_in = started.elapsed();
    assert_eq!(verdicts.len(), report.builds.len());
    assert_eq!(planned.builds.len(), report.expired());
    println!(
        "{} {} {} {} {}",
        evaluated.as_secs_f64() * 1000.0,
        judged.as_secs_f64() * 1000.0,
        planned_in.as_secs_f64() * 1000.0,
        report.expired(),
        report.builds.len()
    );
}

/// `builds` builds over `images` images, in two streams (rocky-1…,
/// stein-1…), one a day; every tenth build lacks its last image.
fn retention_inventory(
    builds: usize,
    images: usize,
    now: chrono::DateTime<Utc>,
) -> tagsweep::inventory::Inventory {
    use tagsweep::inventory::{Inventory, Repository, Tag};
    let start = now - TimeDelta::days(builds as i64);
    let mut inv = Inventory::new("docker.io", NS);
    for r in 0..images {
        let list = (0..builds)
            .filter(|b| r + 1 < images || b % 10 != 9)
            .map(|b| {
                let (stream, n) = if b % 2 == 0 {
                    ("rocky", b / 2 + 1)
                } else {
                    ("stein", b / 2 + 1)
                };
                Tag {
                    name: format!("{stream}-{n}").into(),
                    digest: Some(format!("sha256:{r:08x}{b:056x}")),
                    pushed: Some(start + TimeDelta::days(b as i64)),
                    created: None,
                    platforms: None,
                    media_type: None,
                    placeholder: false,
                }
            })
            .collect();
        inv.repositories.insert(
            image(r),
            Repository {
                private: Some(false),
                tags: Some(list),
                unconfirmed: false,
            },
        );
    }
    inv
}

fn big_inventory(repos: usize, tags: usize) -> tagsweep::inventory::Inventory {
    use tagsweep::inventory::{Inventory, Repository, Tag};
    let start = Utc::now() - TimeDelta::days(400);
    let mut inv = Inventory::new("docker.io", NS);
    inv.taken_at = Some(Utc::now());
    let platforms = tagsweep::inventory::intern_platforms(vec![
        "linux/amd64".parse().unwrap(),
        "linux/arm64".parse().unwrap(),
    ]);
    for r in 0..repos {
        let list = (1..=tags)
            .map(|i| Tag {
                name: format!("rocky-{i}").into(),
                digest: Some(format!("sha256:{r:08x}{i:056x}")),
                pushed: Some(start + TimeDelta::hours(i as i64)),
                created: None,
                platforms: Some(platforms.clone()),
                media_type: None,
                placeholder: false,
            })
            .collect();
        inv.repositories.insert(
            image(r),
            Repository {
                private: Some(false),
                tags: Some(list),
                unconfirmed: false,
            },
        );
    }
    inv
}
