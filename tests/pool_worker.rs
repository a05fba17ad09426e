//! A library caller that is itself a worker of rayon's global pool, with that pool one
//! thread wide: `run::segment` and `run::publish_side_by_side` must not block that thread
//! on work they queued behind it (the stability fits, the sinks). Its own binary, since
//! the global pool's width is set once per process.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use cardseg::output::OutputDir;
use cardseg::report::summary::Summary;
use cardseg::run::{self, RunConfig};
use common::*;

/// Far above the second a 3,000-customer run takes; reached only when the run hangs.
const HANG: Duration = Duration::from_secs(120);

#[test]
fn a_worker_of_a_one_thread_global_pool_segments_and_publishes() {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global()
        .expect("the first use of the global pool in this binary");
    let dir = tempfile::tempdir().unwrap();
    let input = generate(dir.path(), 3_000, 5);
    let mut cfg = RunConfig::new(s(&input).to_string(), dir.path().join("out"));
    cfg.k_max = 5;
    let table = cardseg::ingest::read(&cfg.source, &cfg.read_spec()).unwrap();

    let (tx, rx) = mpsc::channel();
    let work_cfg = cfg.clone();
    rayon::spawn(move || {
        let done = run::segment(&work_cfg, table).and_then(|segmented| {
            let seg = segmented.segmentation;
            let out = OutputDir::create(&work_cfg.out, false, &work_cfg.inputs())?;
            let summary = Summary::build(&seg);
            let mut sinks = run::run_files(&work_cfg, &out, &summary);
            run::publish_side_by_side(&seg, &mut sinks)?;
            drop(sinks);
            out.commit()?;
            Ok(seg.model.stability.is_some())
        });
        let _ = tx.send(done.map_err(|e| e.to_string()));
    });
    let had_stability = rx
        .recv_timeout(HANG)
        .expect("the run inside the pool worker hung")
        .expect("the run inside the pool worker failed");
    assert!(had_stability, "the default run measures stability");
    for f in ["labels.csv", "model.json", "dashboard.html", "summary.json"] {
        assert!(cfg.out.join(f).is_file(), "{f} was not written");
    }
}
