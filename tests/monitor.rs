//! The monitor beside a real training run: `bapw bench --sample-ms` starts the sampler thread
//! next to the engine and reports what it took. Without a GPU (this machine) the GPU list is
//! empty and the reason is given; the process readings are real either way.
mod common;

use common::{run_bapw, stderr, stdout};

#[test]
fn bench_reports_the_sampler_beside_the_run_only_when_asked() {
    let home = tempfile::tempdir().unwrap();
    let args = [
        "bench",
        "--mode",
        "natural",
        "--steps",
        "3",
        "--batch",
        "16",
        "--threads",
        "1",
        "--dataset",
        "synthetic",
        "--device",
        "cpu",
        "--json",
    ];
    let plain = run_bapw(home.path(), &args);
    assert!(plain.status.success(), "{}", stderr(&plain));
    let plain: serde_json::Value = serde_json::from_str(stdout(&plain).trim()).unwrap();
    assert!(plain.get("monitor").is_none(), "off by default: {plain}");

    let mut with = args.to_vec();
    with.extend(["--sample-ms", "2"]);
    let out = run_bapw(home.path(), &with);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["steps"], 3);
    assert_eq!(v["device"], "cpu");
    let m = &v["monitor"];
    assert_eq!(m["interval_ms"], 2);
    let stats = &m["stats"];
    // The first sample is taken at once, before the run's first step.
    assert!(stats["samples"].as_u64().unwrap() >= 1, "{m}");
    assert!(stats["busy_ms"].as_f64().unwrap() >= stats["max_sample_ms"].as_f64().unwrap());
    let last = &m["last"];
    let process = &last["process"];
    // Main and the sampler's own thread at least (the engine's may have ended); LibTorch is
    // resident.
    assert!(process["threads"].as_u64().unwrap() >= 2, "{last}");
    assert!(process["rss_bytes"].as_u64().unwrap() > 10 << 20, "{last}");
    let gpus = last["gpus"].as_array().unwrap();
    match stats["gpu_unavailable"].as_str() {
        Some(why) => {
            assert!(why.starts_with("NVML"), "{why}");
            assert!(gpus.is_empty() && m["nvml_gpus"].as_array().unwrap().is_empty());
        }
        None => assert_eq!(
            gpus.len(),
            m["mapping"]["devices"].as_array().unwrap().len()
        ),
    }
}
