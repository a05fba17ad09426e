//! The library's two halves: `run::segment` works in memory and writes no file;
//! `run::publish` to the run's sinks writes what `cardseg run` writes, byte for byte.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use cardseg::output::OutputDir;
use cardseg::report::summary::Summary;
use cardseg::run::{self, RunConfig};
use common::*;

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn segment_writes_nothing_and_publish_writes_what_the_cli_writes() {
    let dir = tempfile::tempdir().unwrap();
    let input = generate(dir.path(), 4_000, 7);
    let cli_out = dir.path().join("cli");
    run_ok(&[
        "run",
        "--input",
        s(&input),
        "--out",
        s(&cli_out),
        "--k-max",
        "6",
        "--quiet",
    ]);

    let mut cfg = RunConfig::new(s(&input).to_string(), dir.path().join("lib"));
    cfg.k_max = 6;
    let table = cardseg::ingest::read(&cfg.source, &cfg.read_spec()).unwrap();
    // Anything a temporary file would be made in lands in this empty folder (the one test
    // of this binary, so no other thread reads TMPDIR meanwhile).
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    std::env::set_var("TMPDIR", &tmp);
    let before = entries(dir.path());
    let segmented = run::segment(&cfg, table).unwrap();
    assert_eq!(
        entries(dir.path()),
        before,
        "segment wrote into the work folder"
    );
    assert!(entries(&tmp).is_empty(), "segment wrote a temporary file");
    let seg = &segmented.segmentation;
    assert_eq!(seg.labels.len(), 4_000);

    let out = OutputDir::create(&cfg.out, false, &cfg.inputs()).unwrap();
    let summary = Summary::build(seg);
    let mut sinks = run::run_files(&cfg, &out, &summary);
    let mut refs: Vec<&mut dyn cardseg::segmentation::Sink> = sinks
        .iter_mut()
        .map(|b| &mut **b as &mut dyn cardseg::segmentation::Sink)
        .collect();
    run::publish(seg, &mut refs).unwrap();
    drop(sinks);
    out.commit().unwrap();

    let (cli, lib) = (files(&cli_out), files(&cfg.out));
    assert_eq!(
        cli.keys().collect::<Vec<_>>(),
        lib.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &cli {
        assert!(
            lib[name] == *bytes,
            "{name} differs between the CLI and publish"
        );
    }

    // Side by side, every sink runs to its end and the first failure in sink order is
    // the one reported, as `publish` reports it.
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    struct Fails(&'static str);
    impl cardseg::segmentation::Sink for Fails {
        fn publish(&mut self, _: &cardseg::segmentation::Segmentation) -> cardseg::Result<()> {
            Err(cardseg::Error::usage(self.0))
        }
    }
    struct Counts(Arc<AtomicUsize>, usize);
    impl cardseg::segmentation::Sink for Counts {
        fn publish(&mut self, seg: &cardseg::segmentation::Segmentation) -> cardseg::Result<()> {
            self.0
                .fetch_add(seg.labels.len() + self.1, Ordering::SeqCst);
            Ok(())
        }
    }
    let seen = Arc::new(AtomicUsize::new(0));
    for first_fails in [false, true] {
        seen.store(0, Ordering::SeqCst);
        let mut sinks: Vec<Box<dyn cardseg::segmentation::Sink + Send>> = vec![
            Box::new(Counts(seen.clone(), 1)),
            Box::new(Fails("second")),
            Box::new(Counts(seen.clone(), 2)),
            Box::new(Fails("fourth")),
        ];
        if first_fails {
            sinks.insert(0, Box::new(Fails("first")));
        }
        let err = run::publish_side_by_side(seg, &mut sinks).unwrap_err();
        let want = if first_fails { "first" } else { "second" };
        assert_eq!(err.to_string(), want);
        assert_eq!(seen.load(Ordering::SeqCst), 2 * 4_000 + 3);
    }
    assert!(run::publish_side_by_side(seg, &mut []).is_ok());

    // From inside a one-thread pool (a caller that is itself a pool worker): the same
    // segmentation and the same sink outcome. That such a caller cannot hang is
    // tests/pool_worker.rs's (its global pool is one thread wide).
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let table = cardseg::ingest::read(&cfg.source, &cfg.read_spec()).unwrap();
    let again = pool.install(|| run::segment(&cfg, table)).unwrap();
    assert_eq!(again.segmentation.checksum, seg.checksum);
    assert_eq!(again.segmentation.labels, seg.labels);
    seen.store(0, Ordering::SeqCst);
    let mut sinks: Vec<Box<dyn cardseg::segmentation::Sink + Send>> =
        vec![Box::new(Fails("one")), Box::new(Counts(seen.clone(), 1))];
    let err = pool
        .install(|| run::publish_side_by_side(seg, &mut sinks))
        .unwrap_err();
    assert_eq!(err.to_string(), "one");
    assert_eq!(seen.load(Ordering::SeqCst), 4_000 + 1);
}

#[test]
fn a_cancelled_sweep_stops_and_says_so() {
    use cardseg::cancel::Cancel;
    use cardseg::cluster::kmeans::{fit_sweep, KMeansParams};
    use std::sync::atomic::{AtomicUsize, Ordering};

    let dir = tempfile::tempdir().unwrap();
    let input = generate(dir.path(), 3_000, 11);
    let cfg = RunConfig::new(s(&input).to_string(), dir.path().join("out"));
    let table = cardseg::ingest::read(&cfg.source, &cfg.read_spec()).unwrap();
    let scaler = cardseg::scale::MinMaxScaler::fit(&table, &cfg.features).unwrap();
    let x = scaler.transform(&table).unwrap();
    let ks: Vec<usize> = (2..=10).collect();
    let params = KMeansParams {
        n_init: 50,
        ..KMeansParams::default()
    };
    // The first finished restart asks the sweep to stop; restarts not yet started are skipped.
    let cancel = Cancel::default();
    let done = AtomicUsize::new(0);
    let r = fit_sweep(
        &x,
        &ks,
        &params,
        &|| {
            done.fetch_add(1, Ordering::Relaxed);
            cancel.cancel();
        },
        &cancel,
    );
    assert!(
        matches!(r, Err(cardseg::Error::Cancelled)),
        "{:?}",
        r.map(|f| f.len())
    );
    let total = ks.len() * params.n_init;
    let ran = done.load(Ordering::Relaxed);
    assert!(
        ran < total / 10,
        "{ran} of {total} restarts ran after the cancel"
    );

    // A run whose flag is set stops with the same error and writes nothing.
    cfg.cancel.cancel();
    let r = run::run(&cfg);
    assert!(matches!(r, Err(cardseg::Error::Cancelled)));
    assert!(!cfg.out.exists());
}
