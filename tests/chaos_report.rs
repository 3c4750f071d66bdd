//! The chaos report's page, rendered by a real browser: Debian's Chromium, headless. The
//! failure pictured is a real run that failed: the master-crash scenario with one more
//! expectation, that the crashed master is still master afterwards.

use splitbrain::chaos::report::{ChaosSummary, Failure, failure_timeline, write_report};
use splitbrain::report::junit::JunitCase;
use splitbrain::scenario::{self, runner};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium() -> &'static Path {
    let path = Path::new(CHROMIUM);
    assert!(
        path.exists(),
        "{CHROMIUM} is missing: this test renders the chaos report in headless Chromium; \
         install it with `apt-get install -y chromium` (Debian)"
    );
    path
}

/// Runs headless Chromium on `page` with `args`, killing it if it takes more than a minute.
fn render(page: &Path, profile: &Path, args: &[String]) -> std::process::Output {
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let started = Instant::now();
    while child
        .try_wait()
        .expect("chromium can be waited for")
        .is_none()
    {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("headless chromium did not finish within a minute");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("chromium's output")
}

/// A report with one failure from a real run, written into a fresh directory.
fn write_failing_report(dir: &Path) {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/master-crash.toml");
    let mut text = std::fs::read_to_string(&file).expect("the master-crash scenario");
    // a1 crashes at 30 s: expecting it to be master at 80 s fails.
    text.push_str("\n[[expect]]\nmaster = \"a1\"\nat = \"80s\"\n");
    let scenario =
        scenario::parse("master-crash-still-a1", "master-crash-still-a1.toml", &text).unwrap();
    let report = runner::run(&scenario, scenario.seed, false).expect("the scenario runs");
    assert!(!report.passed, "the added expectation fails");
    let unmet = report
        .expectations
        .iter()
        .find(|e| !e.met)
        .expect("one expectation is not met");
    let scenario_file = "seed-1-expectation.toml";
    let replay = format!("splitbrain run {}", dir.join(scenario_file).display());
    let scenario_text = scenario::write::to_toml(&scenario, &format!("Replay: {replay}"));
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(scenario_file), &scenario_text).unwrap();
    let failure = Failure {
        seed: 1,
        invariant: "expectation".into(),
        at: Duration::from_secs(80),
        detail: format!("{}: {}", unmet.expectation, unmet.detail),
        scenario: Some(scenario_file.into()),
        scenario_text,
        replay,
        steps_before: scenario.steps.len(),
        steps_after: scenario.steps.len(),
        shrink_runs: 0,
        mutant_of: None,
        timeline: failure_timeline(
            &report.history,
            scenario.end(),
            Duration::from_secs(80),
            "expectation",
        ),
    };
    // As a night's: most points reached, a few dozen blind spots listed above the failures.
    let coverage = splitbrain::coverage::Point::ALL
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 0)
        .map(|(i, p)| (i as u64 % 3, [*p].into_iter().collect()));
    let summary = ChaosSummary {
        mode: "random".into(),
        guided: None,
        seeds_run: 3,
        coverage: splitbrain::chaos::coverage::tally(coverage),
        violations: 1,
        failures: ChaosSummary::failure_summaries(std::slice::from_ref(&failure)),
        first_seed: 0,
        seeds_requested: 3,
        jobs: 1,
        election: "real".into(),
        started_at: "2026-11-25T19:30:00Z".into(),
        wall_seconds: 0.5,
        seeds_per_minute: 360.0,
        cpu_seconds: Some(0.9),
        seeds_per_cpu_minute: Some(200.0),
        interrupted: false,
        stop_at_first: false,
        seeds_to_first_find: Some(2),
        shrink: false,
        max_shrink_runs: 0,
    };
    let cases: Vec<JunitCase> = (0..3)
        .map(|seed| JunitCase {
            name: format!("seed {seed}"),
            seconds: 0.1,
            failure: (seed == 1)
                .then(|| ("expectation at 80.000 s".into(), failure.detail.clone())),
        })
        .collect();
    write_report(dir, &summary, &[failure], &cases).expect("the report is written");
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("splitbrain-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn the_report_page_renders_offline_with_its_failure_and_timeline() {
    chromium();
    let dir = fresh_dir("chaos-report-render");
    write_failing_report(&dir);
    let page = dir.join("index.html");
    let html = std::fs::read_to_string(&page).unwrap();
    for external in [
        "<script",
        "<link",
        "src=\"http",
        "href=\"http",
        "@import",
        "url(http",
    ] {
        assert!(
            !html.contains(external),
            "the page loads nothing ({external})"
        );
    }

    // The DOM as the browser built it.
    let out = render(&page, &dir.join("profile-dom"), &["--dump-dom".into()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(dom.contains("<h1>splitbrain chaos report</h1>"), "{dom}");
    assert!(
        dom.contains("seeds run") && dom.contains("violations"),
        "the summary"
    );
    assert!(
        dom.contains("<section class=\"failure\" id=\"seed-1\">"),
        "the failure's section"
    );
    assert!(dom.contains("seed-1-expectation.toml"), "the scenario file");
    assert!(dom.contains("splitbrain run "), "the replay command");
    assert!(dom.contains("[[expect]]"), "the scenario text");
    let svg_start = dom.find("<svg").expect("an <svg> timeline");
    let svg = &dom[svg_start..dom[svg_start..].find("</svg>").unwrap() + svg_start];
    for lane in ["zk1", "zk2", "zk3", "a1", "a2"] {
        assert!(
            svg.contains(&format!(">{lane}</text>")),
            "a lane for {lane}: {svg}"
        );
    }
    assert!(svg.contains("<title>a1 master"), "a1's master stretch");
    assert!(svg.contains("<title>a1 down"), "a1's crash");
    assert!(svg.contains("<title>a2 master"), "a2 takes over");
    assert!(svg.contains("leading"), "a ZooKeeper leader");
    assert!(svg.contains(">expectation</text>"), "the violation marker");

    // The picture as the browser painted it.
    let shot = dir.join("page.png");
    let out = render(
        &page,
        &dir.join("profile-shot"),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,1000".into(),
        ],
    );
    assert!(
        out.status.success() && shot.exists(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::fs::File::open(&shot).unwrap());
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut pixels).expect("PNG pixels");
    assert_eq!((frame.width, frame.height), (1280, 1000));
    let channels = frame.color_type.samples();
    let pixels = &pixels[..frame.buffer_size()];
    let count = |rgb: [u8; 3]| {
        pixels
            .chunks(channels)
            .filter(|p| p[..3].iter().zip(rgb).all(|(a, b)| a.abs_diff(b) <= 8))
            .count()
    };
    let total = pixels.len() / channels;
    let white = count([255, 255, 255]);
    assert!(
        white < total * 97 / 100,
        "the screenshot is not blank ({white} of {total} pixels white)"
    );
    // Painted lanes, far more than the legend's swatches: master (#d6604d) and a ZooKeeper
    // leader (#1b7837).
    assert!(
        count([0xd6, 0x60, 0x4d]) > 5000,
        "master stretches are painted"
    );
    assert!(
        count([0x1b, 0x78, 0x37]) > 5000,
        "leader stretches are painted"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
