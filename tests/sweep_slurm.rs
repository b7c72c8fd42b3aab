//! `bapw sweep --backend slurm` against a real Slurm: a one-node cluster started once for this
//! test binary by `scripts/slurm-local.sh` (all its state in a temporary folder, stopped and
//! removed when this process exits). Without Slurm installed the cluster tests skip, unless
//! `BAPW_REQUIRE_SLURM=1` (set by `make test`) makes that a failure.
//!
//! Every wait is on a real condition (a file, an event, what squeue says) with a deadline.
mod common;

use bapw::events::{read_events, EndState, EpochEnd, Event, Finished, Message, Step};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use common::*;

struct Cluster {
    dir: PathBuf,
    conf: PathBuf,
}

static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/slurm-local.sh")
}

/// The cluster, started on first use; None (a skip) when Slurm is not installed and not
/// required.
fn cluster() -> Option<&'static Cluster> {
    CLUSTER
        .get_or_init(|| {
            let required = std::env::var_os("BAPW_REQUIRE_SLURM").is_some();
            let fail = |why: String| {
                assert!(
                    !required,
                    "Slurm is required (BAPW_REQUIRE_SLURM is set) but {why}"
                );
                eprintln!("skipping: {why}");
                None
            };
            for tool in ["sbatch", "slurmctld", "slurmd"] {
                if bapw::sweep::slurm::queue::find_on_path(tool).is_none() {
                    return fail(format!(
                        "{tool} is not installed (scripts/slurm-local.sh install)"
                    ));
                }
            }
            let dir = std::env::temp_dir().join(format!("bapw-slurm-test-{}", std::process::id()));
            // The cluster stops, and its folder goes, when this process exits.
            let o = Command::new(script())
                .arg("start")
                .arg(&dir)
                .arg(std::process::id().to_string())
                .output()
                .expect("running scripts/slurm-local.sh");
            if !o.status.success() {
                return fail(format!(
                    "the test cluster did not start: {}{}",
                    stdout(&o),
                    stderr(&o)
                ));
            }
            let conf = PathBuf::from(stdout(&o).trim());
            Some(Cluster { dir, conf })
        })
        .as_ref()
}

/// A Slurm client command against the test cluster; its stdout.
fn slurm(c: &Cluster, program: &str, args: &[&str]) -> String {
    let o = Command::new(program)
        .args(args)
        .env("SLURM_CONF", &c.conf)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(o.status.success(), "{program} {args:?}: {}", stderr(&o));
    stdout(&o)
}

/// `(task id, state, reason)` of the live tasks of array job `job`.
fn tasks_of(c: &Cluster, job: &str) -> Vec<(usize, String, String)> {
    let o = Command::new("squeue")
        .args(["--noheader", "--array", "--format=%K|%T|%r", "--jobs", job])
        .env("SLURM_CONF", &c.conf)
        .output()
        .unwrap();
    stdout(&o)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.trim().split('|').collect();
            Some((
                f.first()?.parse().ok()?,
                f.get(1)?.to_string(),
                f.get(2)?.to_string(),
            ))
        })
        .collect()
}

fn bapw_on(c: &Cluster, home: &Path, args: &[&str]) -> Output {
    bapw()
        .args(args)
        .env("SLURM_CONF", &c.conf)
        .env("BAPW_DATA_DIR", home.join("data"))
        .env("BAPW_CONFIG_DIR", home.join("config"))
        .output()
        .expect("bapw starts")
}

/// Polls `ok` every 50 ms until it holds; fails after `secs` seconds saying what it waited for.
fn wait_until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "waited {secs} s for: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn events(run: &Path) -> Vec<Event> {
    read_events(&run.join("events.jsonl")).unwrap_or_default()
}

/// A checkpoint a resume can start from (not the copy of the best weights).
fn has_checkpoint(run: &Path) -> bool {
    std::fs::read_dir(run.join("checkpoints"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with("step-") && n.ends_with(".json")
        })
}

fn end_state(run: &Path) -> Option<EndState> {
    match events(run).last() {
        Some(Event::Finished(Finished { state, .. })) => Some(*state),
        _ => None,
    }
}

fn was_resumed(run: &Path) -> bool {
    events(run).iter().any(
        |e| matches!(e, Event::Message(Message { text, .. }) if text.starts_with("resumed from")),
    )
}

/// Every logged step's loss, each epoch's end (epoch, train loss, test accuracy) and the last
/// event: what "bit-identical" means for two runs, together with the final weights.
struct Trajectory(Vec<(usize, f64)>, Vec<(usize, f64, f64)>, String);

fn trajectory(run: &Path) -> Trajectory {
    let ev = events(run);
    let steps = ev
        .iter()
        .filter_map(|e| match e {
            Event::Step(Step { step, loss, .. }) => Some((*step, *loss)),
            _ => None,
        })
        .collect();
    let epochs = ev
        .iter()
        .filter_map(|e| match e {
            Event::EpochEnd(EpochEnd {
                epoch,
                train_loss,
                test_acc,
                ..
            }) => Some((*epoch, *train_loss, *test_acc)),
            _ => None,
        })
        .collect();
    let last = match ev.last() {
        Some(Event::Finished(Finished {
            state,
            step,
            sparsity,
            test_acc,
            ..
        })) => format!("{state:?} {step} {sparsity} {test_acc}"),
        other => format!("{other:?}"),
    };
    Trajectory(steps, epochs, last)
}

fn final_weights(run: &Path) -> Vec<u8> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("step-") && n.ends_with(".safetensors") && !n.contains("optim")
        })
        .collect();
    files.sort();
    std::fs::read(files.last().expect("a checkpoint")).unwrap()
}

fn assert_same_run(run: &Path, reference: &Path) {
    let (a, b) = (trajectory(run), trajectory(reference));
    let first_diff = |x: &[(usize, f64)], y: &[(usize, f64)]| {
        x.iter()
            .zip(y)
            .find(|(p, q)| p != q)
            .map(|(p, q)| format!("{p:?} vs {q:?}"))
    };
    assert!(
        a.0 == b.0,
        "{}: the step losses differ from {} (lengths {} and {}; first difference {:?})",
        run.display(),
        reference.display(),
        a.0.len(),
        b.0.len(),
        first_diff(&a.0, &b.0)
    );
    assert_eq!(a.1, b.1, "{}: the epoch ends differ", run.display());
    assert_eq!(a.2, b.2, "{}: the ends differ", run.display());
    assert!(
        final_weights(run) == final_weights(reference),
        "the final weights of {} differ from {}",
        run.display(),
        reference.display()
    );
}

/// Four short points: two methods at two sparsities. Its `[slurm]` table gives each run a
/// (fake) GPU and one CPU.
const SMOKE4: &str = r#"
schema_version = 1
name = "smoke4"
base = "smoke"
set = ["eval.every=0", "eval.subset=64", "train.log_every=1000"]
sparsity = [0.5, 0.8]
backend = "slurm"

[[process]]
name = "short"
epochs = 2
end_epoch = 1.0

[[method]]
name = "natural"
mode = "natural"

[[method]]
name = "fgsm"
mode = "adversarial"
attack = "fgsm"
eps = [0.1]

[slurm]
gpus = 1
cpus = 1
time = "10"
"#;

/// Two points long enough (4,800 steps, a checkpoint every 64) to be interrupted mid-run.
const LONG2: &str = r#"
schema_version = 1
name = "long2"
base = "smoke"
set = ["eval.every=0", "eval.subset=64", "checkpoint.every=64", "train.log_every=8"]
sparsity = [0.5, 0.8]

[[process]]
name = "long"
epochs = 300
end_epoch = 1.0

[[method]]
name = "natural"
mode = "natural"
"#;

const LONG_IDS: [&str; 2] = ["natural-s0.5-long-seed1", "natural-s0.8-long-seed1"];

/// Writes `text` as a sweep file in `home`; returns its path and the sweep folder to use.
fn sweep_file(home: &Path, text: &str) -> (String, String) {
    let file = home.join("sweep.toml");
    std::fs::write(&file, text).unwrap();
    (
        file.display().to_string(),
        home.join("sweep").display().to_string(),
    )
}

/// LONG2 trained by the local backend, uninterrupted: what every Slurm run of it must equal.
fn long_reference(c: &Cluster) -> &'static Path {
    static REFERENCE: OnceLock<PathBuf> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let home = c.dir.join("reference");
        std::fs::create_dir_all(&home).unwrap();
        let (file, dir) = sweep_file(&home, LONG2);
        let o = run_bapw(&home, &["sweep", &file, "--out", &dir, "--jobs", "2"]);
        assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
        PathBuf::from(dir).join("runs")
    })
}

/// The array job id `bapw sweep` printed (`submitted job 12: ...`).
fn submitted_job(o: &Output) -> String {
    let text = stdout(o);
    text.lines()
        .find_map(|l| l.strip_prefix("submitted job "))
        .and_then(|l| l.split(':').next())
        .unwrap_or_else(|| panic!("no job submitted: {text}{}", stderr(o)))
        .to_string()
}

fn submissions(dir: &Path) -> Vec<bapw::sweep::slurm::records::Submission> {
    bapw::sweep::slurm::records::submissions(dir).unwrap()
}

fn time_of(s: &str) -> SystemTime {
    humantime::parse_rfc3339(s).unwrap()
}

#[test]
fn a_smoke_sweep_runs_through_slurm_like_a_local_one() {
    let Some(c) = cluster() else { return };
    let home = tempfile::tempdir().unwrap();
    let (file, dir) = sweep_file(home.path(), SMOKE4);
    let local = home.path().join("local");
    let o = run_bapw(
        home.path(),
        &[
            "sweep",
            &file,
            "--out",
            local.to_str().unwrap(),
            "--jobs",
            "2",
            "--backend",
            "local",
        ],
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));

    let o = bapw_on(
        c,
        home.path(),
        &["sweep", &file, "--out", &dir, "--jobs", "2"],
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let job = submitted_job(&o);
    assert!(
        stdout(&o).contains("as array 0-3, 2 at a time"),
        "{}",
        stdout(&o)
    );
    let dir = PathBuf::from(dir);
    let script = std::fs::read_to_string(dir.join("slurm/submit-1.sh")).unwrap();
    for line in [
        "#SBATCH --array=0-3%2",
        "#SBATCH --gres=gpu:1",
        "#SBATCH --cpus-per-task=1",
        "#SBATCH --requeue",
    ] {
        assert!(script.contains(line), "{line} in\n{script}");
    }

    // Never more than two tasks at once, as far as the queue shows it while the sweep runs.
    let mut most = 0;
    wait_until("the report of the Slurm sweep", 240, || {
        let running = tasks_of(c, &job)
            .iter()
            .filter(|t| t.1 == "RUNNING")
            .count();
        most = most.max(running);
        assert!(running <= 2, "{running} tasks running at once");
        dir.join("report/report.md").exists() && tasks_of(c, &job).is_empty()
    });
    // And as the tasks recorded it: at no moment were three of them training.
    let mut edges = Vec::new();
    for id in [
        "natural-s0.5-short-seed1",
        "fgsm-s0.5-short-seed1",
        "natural-s0.8-short-seed1",
        "fgsm-s0.8-short-seed1",
    ] {
        let r = bapw::sweep::slurm::records::task_record(&dir, id).expect("a task record");
        assert_eq!(
            (r.exit_code, r.outcome.as_deref()),
            (Some(0), Some("finished")),
            "{id}: {r:?}"
        );
        assert!(r.task.starts_with(&format!("{job}_")), "{r:?}");
        assert!(
            matches!(r.gpus.as_deref(), Some("0" | "1")),
            "one fake GPU each: {r:?}"
        );
        edges.push((time_of(&r.started), 1));
        edges.push((time_of(r.ended.as_ref().unwrap()), -1));
    }
    // At equal times an end counts before a start: Slurm starts a task after another's end.
    edges.sort();
    let mut now = 0;
    for (_, d) in edges {
        now += d;
        assert!(now <= 2, "three tasks overlapped");
    }

    for f in ["report.md", "report.csv", "runs.csv"] {
        assert_eq!(
            std::fs::read_to_string(dir.join("report").join(f)).unwrap(),
            std::fs::read_to_string(local.join("report").join(f)).unwrap(),
            "{f} of the Slurm sweep and of the local one"
        );
    }

    // Continuing a finished sweep submits nothing.
    let o = bapw_on(c, home.path(), &["sweep", dir.to_str().unwrap()]);
    let text = stdout(&o);
    assert!(o.status.success(), "{text}");
    assert!(text.contains("4 finished"), "{text}");
    assert!(!text.contains("submitted job"), "{text}");
    assert_eq!(submissions(&dir).len(), 1);
    let o = bapw_on(
        c,
        home.path(),
        &["watch", dir.to_str().unwrap(), "--headless"],
    );
    assert_eq!(
        stdout(&o).matches("] finished").count(),
        4,
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_cancelled_task_is_resubmitted_alone_and_resumes_bit_identically() {
    let Some(c) = cluster() else { return };
    let reference = long_reference(c);
    let home = tempfile::tempdir().unwrap();
    let (file, dir) = sweep_file(home.path(), LONG2);
    let o = bapw_on(
        c,
        home.path(),
        &[
            "sweep",
            &file,
            "--out",
            &dir,
            "--backend",
            "slurm",
            "--jobs",
            "2",
        ],
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let job = submitted_job(&o);
    let dir = PathBuf::from(dir);
    let runs = dir.join("runs");
    let first = runs.join(LONG_IDS[0]);

    wait_until("a checkpoint of the first point", 120, || {
        has_checkpoint(&first)
    });
    slurm(c, "scancel", &[&format!("{job}_0")]);
    wait_until("the job's end", 240, || tasks_of(c, &job).is_empty());
    assert_eq!(
        end_state(&first),
        Some(EndState::Stopped),
        "stopped, not killed"
    );
    let rec = bapw::sweep::slurm::records::task_record(&dir, LONG_IDS[0]).unwrap();
    assert_eq!(rec.outcome.as_deref(), Some("stopped"), "{rec:?}");
    assert_eq!(end_state(&runs.join(LONG_IDS[1])), Some(EndState::Finished));

    let o = bapw_on(c, home.path(), &["sweep", dir.to_str().unwrap()]);
    let text = stdout(&o);
    assert!(o.status.success(), "{text}{}", stderr(&o));
    assert!(text.contains("stopped"), "{text}");
    let job2 = submitted_job(&o);
    assert!(text.contains("1 run as array 0"), "{text}");
    let subs = submissions(&dir);
    assert_eq!(subs.len(), 2);
    assert_eq!(subs[1].indices, [0], "only the stopped point");

    wait_until("the report", 240, || {
        dir.join("report/report.md").exists() && tasks_of(c, &job2).is_empty()
    });
    assert!(
        was_resumed(&first),
        "resumed from its checkpoint, not restarted"
    );
    for id in LONG_IDS {
        assert_same_run(&runs.join(id), &reference.join(id));
    }
}

#[test]
fn requeued_tasks_resume_and_a_queued_point_is_not_submitted_twice() {
    let Some(c) = cluster() else { return };
    let reference = long_reference(c);
    let home = tempfile::tempdir().unwrap();
    let (file, dir) = sweep_file(home.path(), LONG2);
    let o = bapw_on(
        c,
        home.path(),
        &[
            "sweep",
            &file,
            "--out",
            &dir,
            "--backend",
            "slurm",
            "--jobs",
            "2",
        ],
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let job = submitted_job(&o);
    let dir = PathBuf::from(dir);
    let runs = dir.join("runs");
    let (first, second) = (runs.join(LONG_IDS[0]), runs.join(LONG_IDS[1]));

    // The first point: requeued by the scheduler (SIGTERM), and held in the queue.
    wait_until("a checkpoint of the first point", 120, || {
        has_checkpoint(&first)
    });
    slurm(c, "scontrol", &["requeuehold", &format!("{job}_0")]);
    // The second: Slurm's warning before a time limit (SIGUSR1 to the batch process).
    wait_until("a checkpoint of the second point", 120, || {
        has_checkpoint(&second)
    });
    slurm(
        c,
        "scancel",
        &["--batch", "--signal=USR1", &format!("{job}_1")],
    );

    wait_until("the first point stopped and held in the queue", 120, || {
        end_state(&first) == Some(EndState::Stopped)
            && tasks_of(c, &job)
                .iter()
                .any(|t| t.0 == 0 && t.1 == "PENDING" && t.2.contains("held"))
    });
    let o = bapw_on(c, home.path(), &["sweep", dir.to_str().unwrap()]);
    let text = stdout(&o);
    assert!(o.status.success(), "{text}{}", stderr(&o));
    let line = text.lines().find(|l| l.contains(LONG_IDS[0])).unwrap();
    assert!(
        line.contains("queued (job requeued in held state)")
            && line.ends_with(&format!("job {job}_0")),
        "{text}"
    );
    assert!(text.contains("nothing to submit"), "{text}");
    assert_eq!(submissions(&dir).len(), 1, "no second copy was submitted");
    // The sweep view (`bapw watch SWEEP` on a terminal) shows the scheduler's state too.
    if common::tmux::tmux_or_skip() {
        use common::tmux::{env_prefix, quote, Tmux};
        let tmux = Tmux::start(&format!(
            "SLURM_CONF={} {} watch {}",
            quote(&c.conf),
            env_prefix(&home.path().join("data"), &home.path().join("config")),
            quote(&dir)
        ));
        let screen = tmux.wait_for("queued (job requeued in");
        let row = screen.lines().find(|l| l.contains(LONG_IDS[0])).unwrap();
        assert!(row.contains("queued (job requeued in"), "{screen}");
    }

    slurm(c, "scontrol", &["release", &format!("{job}_0")]);
    wait_until("the report", 300, || {
        dir.join("report/report.md").exists() && tasks_of(c, &job).is_empty()
    });
    for (i, id) in LONG_IDS.iter().enumerate() {
        let run = runs.join(id);
        assert!(was_resumed(&run), "{id} resumed from its checkpoint");
        let rec = bapw::sweep::slurm::records::task_record(&dir, id).unwrap();
        assert_eq!(rec.task, format!("{job}_{i}"), "the same task, requeued");
        assert_eq!(rec.restarts, 1, "{rec:?}");
        assert_same_run(&run, &reference.join(id));
    }
    let log = std::fs::read_to_string(dir.join(format!("logs/slurm-{job}_1.out"))).unwrap();
    assert!(log.contains(&format!("requeued {job}_1")), "{log}");
}

#[test]
fn sweep_cancel_stops_every_task() {
    let Some(c) = cluster() else { return };
    let home = tempfile::tempdir().unwrap();
    let (file, dir) = sweep_file(home.path(), LONG2);
    let o = bapw_on(
        c,
        home.path(),
        &[
            "sweep",
            &file,
            "--out",
            &dir,
            "--backend",
            "slurm",
            "--jobs",
            "1",
        ],
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let job = submitted_job(&o);
    let runs = PathBuf::from(&dir).join("runs");
    wait_until("a checkpoint of the first point", 120, || {
        has_checkpoint(&runs.join(LONG_IDS[0]))
    });
    let o = bapw_on(c, home.path(), &["sweep", "cancel", &dir]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains(&format!("cancelled job {job}")),
        "{}",
        stdout(&o)
    );
    // `bapw sweep cancel` returns once the tasks have ended.
    assert!(tasks_of(c, &job).is_empty());
    assert_eq!(end_state(&runs.join(LONG_IDS[0])), Some(EndState::Stopped));
    assert!(
        !runs.join(LONG_IDS[1]).exists(),
        "the queued point never started"
    );
    let o = bapw_on(c, home.path(), &["watch", &dir, "--headless"]);
    let text = stdout(&o);
    assert!(
        text.contains("] stopped") && text.contains("] pending"),
        "{text}"
    );
    assert!(
        text.contains(&format!("task {job}_1 never started")),
        "{text}"
    );
}

/// `text` with `backend = "slurm"` (a top-level key: before the first table).
fn on_slurm(text: &str) -> String {
    text.replacen("[[process]]", "backend = \"slurm\"\n\n[[process]]", 1)
}

/// A bad `[slurm]` table, a bad flag or a machine without sbatch: exit code 2 naming the key,
/// and nothing submitted (no cluster needed).
#[test]
fn bad_slurm_options_are_refused_before_anything_is_submitted() {
    let home = tempfile::tempdir().unwrap();
    let cases: [(&str, &[&str], &[&str]); 4] = [
        (
            "[slurm]\npartiton = \"gpu\"\n",
            &[],
            &["sweep.toml", "partiton", "partition"],
        ),
        (
            "[slurm]\ngpus = -1\n",
            &[],
            &["slurm.gpus", "-1 is negative"],
        ),
        ("[slurm]\ntime = \"1h\"\n", &[], &["slurm.time", "1h"]),
        (
            "",
            &["--partition", "gpu;rm -rf /"],
            &["--partition", "not a Slurm name"],
        ),
    ];
    for (table, flags, expect) in cases {
        let (file, dir) = sweep_file(home.path(), &format!("{}{table}", on_slurm(LONG2)));
        let mut args = vec!["sweep", file.as_str(), "--out", dir.as_str()];
        args.extend(flags);
        let o = run_bapw(home.path(), &args);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{table}{flags:?}: {e}");
        for x in expect {
            assert!(e.contains(x), "{x:?} in {e}");
        }
        assert!(!Path::new(&dir).join("slurm").exists(), "nothing submitted");
    }

    // No sbatch on PATH: one line, exit code 2, and the local backend suggested.
    let (file, dir) = sweep_file(home.path(), &on_slurm(LONG2));
    let empty = tempfile::tempdir().unwrap();
    let o = bapw()
        .args(["sweep", &file, "--out", &dir])
        .env("PATH", empty.path())
        .env("BAPW_DATA_DIR", home.path().join("data"))
        .env("BAPW_CONFIG_DIR", home.path().join("config"))
        .output()
        .unwrap();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert_eq!(e.trim_end().lines().count(), 1, "{e}");
    assert!(e.contains("sbatch") && e.contains("--backend local"), "{e}");
    assert!(!Path::new(&dir).exists(), "nothing written");
}
