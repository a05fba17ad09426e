//! Migration between two runs: which customers moved from which segment to which.
//!
//! Customers are matched by id. An id that appears more than once in either labels file,
//! and a row with an empty id, are left out and counted (never guessed); customers only in
//! the earlier run are "gone", only in the later one "new"; customers without a segment
//! in either run (dropped for missing values) are counted as unlabelled. The table counts
//! every customer present and labelled in both, from-segment × to-segment, with the share
//! of the from-segment's customers.
//!
//! Splits and merges are read from the flows: an earlier segment is split when at least
//! two later segments each received at least [`SPLIT_SHARE`] (25 %) of its customers; a
//! later segment is a merge when at least two earlier segments each supplied at least
//! 25 % of its customers.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::output::{werr, OutputDir};

/// Share of a segment's customers that counts as a part of a split or merge.
pub const SPLIT_SHARE: f64 = 0.25;

/// One customer of a labels file: id, then segment id and name (None when unlabelled).
pub type LabelRecord = (String, Option<(u32, String)>);

/// Reads a labels file written by `run` or `predict` (`ID,segment,segment_name`, any
/// trailing columns ignored): a regular file, streamed, each line at most
/// [`MAX_LABEL_LINE_BYTES`](crate::readback::MAX_LABEL_LINE_BYTES). Ids and names are
/// read back as they were before formula neutralisation ([`crate::csvcell::restore`]).
pub fn read_labels(path: &Path) -> Result<Vec<LabelRecord>> {
    use crate::csvcell::restore;
    use crate::readback::{line_too_long, open_regular, LineBound, MAX_LABEL_LINE_BYTES};
    let shown = path.display().to_string();
    let parquet = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
        || (!path.exists() && path.with_file_name("labels.parquet").is_file());
    if parquet {
        return Err(Error::usage(format!(
            "{shown}: the labels of this run are in Parquet (--labels-format parquet), and this command reads the labels.csv of cardseg run or predict; write them as CSV too (cardseg predict --model M --input DATA --out labels.csv)"
        )));
    }
    let file = open_regular(path, "reading labels")?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(LineBound::new(
            std::io::BufReader::new(file),
            MAX_LABEL_LINE_BYTES,
        ));
    let bad = |line: u64, message: String| Error::Record {
        source_name: shown.clone(),
        line,
        message,
    };
    let headers = rdr
        .headers()
        .map_err(|e| match line_too_long(&e) {
            Some(t) => bad(
                t.line,
                format!("{t}, which no labels file cardseg writes has; give a labels.csv written by cardseg"),
            ),
            None => Error::input(
                &shown,
                format!("cannot read the header ({e}); give a labels.csv written by cardseg"),
            ),
        })?
        .clone();
    if headers.len() < 3 || &headers[1] != "segment" || &headers[2] != "segment_name" {
        return Err(Error::input(
            &shown,
            "is not a cardseg labels file (the header must start with ID,segment,segment_name); give a labels.csv written by cardseg run or predict",
        ));
    }
    let mut out = Vec::new();
    let mut rec = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                if let Some(t) = line_too_long(&e) {
                    return Err(bad(
                        t.line,
                        format!("{t}, which no labels file cardseg writes has; give a labels.csv written by cardseg"),
                    ));
                }
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                return Err(bad(
                    line,
                    format!("{e}; give a labels.csv written by cardseg"),
                ));
            }
        }
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        let seg = if rec[1].is_empty() {
            None
        } else {
            let id: u32 = rec[1].parse().map_err(|_| {
                bad(
                    line,
                    format!(
                        "column segment: {} is not a segment id; give a labels.csv written by cardseg",
                        crate::error::show_value(rec[1].as_bytes())
                    ),
                )
            })?;
            Some((id, restore(&rec[2]).to_string()))
        };
        out.push((restore(&rec[0]).to_string(), seg));
    }
    Ok(out)
}

/// The labels file of a run directory (or the file itself).
pub fn labels_path(dir_or_file: &Path) -> PathBuf {
    if dir_or_file.is_dir() {
        dir_or_file.join("labels.csv")
    } else {
        dir_or_file.to_path_buf()
    }
}

/// One cell of the migration table.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Flow {
    /// Segment id in the earlier run.
    pub from_segment: u32,
    /// Its name in the earlier run.
    pub from_name: String,
    /// Segment id in the later run.
    pub to_segment: u32,
    /// Its name in the later run.
    pub to_name: String,
    /// Customers who made this move.
    pub customers: u64,
    /// Share of the from-segment's customers (present and labelled in both runs).
    pub share_of_from: f64,
}

/// An earlier segment whose customers now sit mostly in several later ones.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Split {
    /// The earlier segment.
    pub from_segment: u32,
    /// The later segments that took most of it.
    pub into: Vec<u32>,
}

/// A later segment that gathered most of several earlier ones.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Merge {
    /// The later segment.
    pub to_segment: u32,
    /// The earlier segments it gathered.
    pub from: Vec<u32>,
}

/// Who moved between two runs.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Migration {
    /// The earlier run's labels file.
    pub before: String,
    /// The later run's labels file.
    pub after: String,
    /// Customers in the earlier run.
    pub customers_before: u64,
    /// Customers in the later run.
    pub customers_after: u64,
    /// Customers (unique ids) in both runs.
    pub customers_in_both: u64,
    /// In both runs and labelled in both.
    pub customers_compared: u64,
    /// Compared customers whose segment id changed.
    pub moved: u64,
    /// Compared customers whose segment id is the same.
    pub stayed: u64,
    /// Compared customers whose segment name changed (whether or not the id did).
    pub name_changed: u64,
    /// Customers only in the later run.
    pub new_customers: u64,
    /// Customers only in the earlier run.
    pub gone_customers: u64,
    /// In both runs but without a segment in one of them.
    pub unlabelled: u64,
    /// Ids appearing more than once (left out), per run.
    pub duplicate_ids_before: u64,
    /// Ids appearing more than once in the later run (left out).
    pub duplicate_ids_after: u64,
    /// Rows with an empty id (left out), per run.
    pub missing_ids_before: u64,
    /// Rows with an empty id in the later run (left out).
    pub missing_ids_after: u64,
    /// Non-empty cells, ordered by from-segment then to-segment.
    pub flows: Vec<Flow>,
    /// Earlier segments that split.
    pub splits: Vec<Split>,
    /// Later segments that merged earlier ones.
    pub merges: Vec<Merge>,
    /// Outcomes per segment in both runs (`--outcome` in both), from their segments.json.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outcomes: Vec<super::outcomes::OutcomeChange>,
    /// Checksum of the model behind the earlier labels (`compare`: from the run's
    /// model.json or the predict output's sidecar), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_checksum_before: Option<String>,
    /// Checksum of the model behind the later labels, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_checksum_after: Option<String>,
}

/// Ids seen exactly once, with their row (None for an id seen more than once); counts of
/// duplicated ids and empty ids.
fn unique_ids(rows: &[LabelRecord]) -> (HashMap<&str, Option<usize>>, u64, u64) {
    let mut seen: HashMap<&str, (usize, u32)> = HashMap::with_capacity(rows.len());
    let mut empty = 0;
    for (i, (id, _)) in rows.iter().enumerate() {
        if id.is_empty() {
            empty += 1;
            continue;
        }
        seen.entry(id.as_str()).or_insert((i, 0)).1 += 1;
    }
    let dups = seen.values().filter(|(_, c)| *c > 1).count() as u64;
    let unique = seen
        .into_iter()
        .map(|(k, (i, c))| (k, (c == 1).then_some(i)))
        .collect();
    (unique, dups, empty)
}

/// The migration from `before` to `after` (named for messages); an error when they
/// share no customer id.
pub fn migrate(
    before_name: &str,
    before: &[LabelRecord],
    after_name: &str,
    after: &[LabelRecord],
) -> Result<Migration> {
    let (ub, dup_b, empty_b) = unique_ids(before);
    let (ua, dup_a, empty_a) = unique_ids(after);
    let mut cells: BTreeMap<(u32, u32), u64> = BTreeMap::new();
    let mut names_b: BTreeMap<u32, String> = BTreeMap::new();
    let mut names_a: BTreeMap<u32, String> = BTreeMap::new();
    let (mut in_both, mut unlabelled, mut name_changed) = (0u64, 0u64, 0u64);
    for (id, &ib) in &ub {
        // Duplicated ids (None) are left out of the comparison.
        let (Some(ib), Some(&Some(ia))) = (ib, ua.get(id)) else {
            continue;
        };
        in_both += 1;
        match (&before[ib].1, &after[ia].1) {
            (Some((sb, nb)), Some((sa, na))) => {
                names_b.entry(*sb).or_insert_with(|| nb.clone());
                names_a.entry(*sa).or_insert_with(|| na.clone());
                *cells.entry((*sb, *sa)).or_default() += 1;
                name_changed += u64::from(nb != na);
            }
            _ => unlabelled += 1,
        }
    }
    assemble(
        before_name,
        after_name,
        Tally {
            cells,
            names_b,
            names_a,
            customers_before: before.len() as u64,
            customers_after: after.len() as u64,
            in_both,
            unlabelled,
            name_changed,
            new_customers: ua
                .iter()
                .filter(|(id, i)| i.is_some() && !ub.contains_key(*id))
                .count() as u64,
            gone_customers: ub
                .iter()
                .filter(|(id, i)| i.is_some() && !ua.contains_key(*id))
                .count() as u64,
            duplicate_ids_before: dup_b,
            duplicate_ids_after: dup_a,
            missing_ids_before: empty_b,
            missing_ids_after: empty_a,
        },
    )
}

/// The counts a migration is made of, however they were counted.
struct Tally {
    cells: BTreeMap<(u32, u32), u64>,
    names_b: BTreeMap<u32, String>,
    names_a: BTreeMap<u32, String>,
    customers_before: u64,
    customers_after: u64,
    in_both: u64,
    unlabelled: u64,
    name_changed: u64,
    new_customers: u64,
    gone_customers: u64,
    duplicate_ids_before: u64,
    duplicate_ids_after: u64,
    missing_ids_before: u64,
    missing_ids_after: u64,
}

/// Customer flows counted by an engine that holds every row (Spark), with the rules of
/// [`migrate`]: the earlier run's segment and name against this run's segment, given by
/// its index in segment order, since the ids are settled after the counting.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Counted {
    /// The earlier run's labels (as shown in messages).
    pub before: String,
    /// Rows of the earlier labels.
    pub customers_before: u64,
    /// Rows of this run's labels.
    pub customers_after: u64,
    /// Unique ids in both.
    pub customers_in_both: u64,
    /// In both but without a segment in one of them.
    pub unlabelled: u64,
    /// Unique ids only in this run.
    pub new_customers: u64,
    /// Unique ids only in the earlier run.
    pub gone_customers: u64,
    /// Ids appearing more than once in the earlier labels.
    pub duplicate_ids_before: u64,
    /// Ids appearing more than once in this run's labels.
    pub duplicate_ids_after: u64,
    /// Rows with an empty id in the earlier labels.
    pub missing_ids_before: u64,
    /// Rows with an empty id in this run's labels.
    pub missing_ids_after: u64,
    /// Customers labelled in both, per (earlier segment, its name, this run's segment index).
    pub cells: Vec<CountedCell>,
}

/// One cell of [`Counted`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CountedCell {
    /// Segment id in the earlier run.
    pub from_segment: u32,
    /// Its name in the earlier run.
    pub from_name: String,
    /// This run's segment, as an index in segment order.
    pub to_index: usize,
    /// Customers who made this move.
    pub customers: u64,
}

/// The migration from counts; `to` gives this run's segment id and name of a segment
/// index (None: out of range, an error).
pub fn from_counted(
    counted: &Counted,
    after_name: &str,
    to: impl Fn(usize) -> Option<(u32, String)>,
) -> Result<Migration> {
    let mut cells: BTreeMap<(u32, u32), u64> = BTreeMap::new();
    let mut names_b: BTreeMap<u32, String> = BTreeMap::new();
    let mut names_a: BTreeMap<u32, String> = BTreeMap::new();
    let mut name_changed = 0u64;
    let mut sorted: Vec<&CountedCell> = counted.cells.iter().collect();
    sorted.sort_by(|a, b| {
        (a.from_segment, &a.from_name, a.to_index).cmp(&(b.from_segment, &b.from_name, b.to_index))
    });
    for c in sorted {
        let (sa, na) = to(c.to_index).ok_or_else(|| {
            Error::input(
                after_name,
                format!(
                    "migration counts name segment index {}, beyond this run's segments",
                    c.to_index
                ),
            )
        })?;
        names_b
            .entry(c.from_segment)
            .or_insert_with(|| c.from_name.clone());
        if c.from_name != na {
            name_changed += c.customers;
        }
        names_a.entry(sa).or_insert(na);
        *cells.entry((c.from_segment, sa)).or_default() += c.customers;
    }
    assemble(
        &counted.before,
        after_name,
        Tally {
            cells,
            names_b,
            names_a,
            customers_before: counted.customers_before,
            customers_after: counted.customers_after,
            in_both: counted.customers_in_both,
            unlabelled: counted.unlabelled,
            name_changed,
            new_customers: counted.new_customers,
            gone_customers: counted.gone_customers,
            duplicate_ids_before: counted.duplicate_ids_before,
            duplicate_ids_after: counted.duplicate_ids_after,
            missing_ids_before: counted.missing_ids_before,
            missing_ids_after: counted.missing_ids_after,
        },
    )
}

/// Flows, shares, splits and merges from the counts.
fn assemble(before_name: &str, after_name: &str, tally: Tally) -> Result<Migration> {
    let Tally {
        cells,
        names_b,
        names_a,
        in_both,
        ..
    } = &tally;
    let in_both = *in_both;
    if in_both == 0 {
        return Err(Error::input(
            after_name,
            format!("shares no customer id with {before_name}; migration compares the same customers in two runs: give labels of the same customer base"),
        ));
    }
    let mut from_total: BTreeMap<u32, u64> = BTreeMap::new();
    let mut to_total: BTreeMap<u32, u64> = BTreeMap::new();
    for (&(f, t), &c) in cells {
        *from_total.entry(f).or_default() += c;
        *to_total.entry(t).or_default() += c;
    }
    let flows: Vec<Flow> = cells
        .iter()
        .map(|(&(f, t), &c)| Flow {
            from_segment: f,
            from_name: names_b[&f].to_string(),
            to_segment: t,
            to_name: names_a[&t].to_string(),
            customers: c,
            share_of_from: c as f64 / from_total[&f] as f64,
        })
        .collect();
    let compared: u64 = cells.values().sum();
    let stayed: u64 = cells
        .iter()
        .filter(|((f, t), _)| f == t)
        .map(|(_, c)| c)
        .sum();
    let splits = from_total
        .keys()
        .filter_map(|&f| {
            let into: Vec<u32> = flows
                .iter()
                .filter(|x| x.from_segment == f && x.share_of_from >= SPLIT_SHARE)
                .map(|x| x.to_segment)
                .collect();
            (into.len() >= 2).then_some(Split {
                from_segment: f,
                into,
            })
        })
        .collect();
    let merges = to_total
        .iter()
        .filter_map(|(&t, &total)| {
            let from: Vec<u32> = flows
                .iter()
                .filter(|x| x.to_segment == t && x.customers as f64 / total as f64 >= SPLIT_SHARE)
                .map(|x| x.from_segment)
                .collect();
            (from.len() >= 2).then_some(Merge {
                to_segment: t,
                from,
            })
        })
        .collect();
    Ok(Migration {
        before: before_name.to_string(),
        after: after_name.to_string(),
        customers_before: tally.customers_before,
        customers_after: tally.customers_after,
        customers_in_both: in_both,
        customers_compared: compared,
        moved: compared - stayed,
        stayed,
        name_changed: tally.name_changed,
        new_customers: tally.new_customers,
        gone_customers: tally.gone_customers,
        unlabelled: tally.unlabelled,
        duplicate_ids_before: tally.duplicate_ids_before,
        duplicate_ids_after: tally.duplicate_ids_after,
        missing_ids_before: tally.missing_ids_before,
        missing_ids_after: tally.missing_ids_after,
        flows,
        splits,
        merges,
        outcomes: Vec::new(),
        model_checksum_before: None,
        model_checksum_after: None,
    })
}

/// Writes `migration.csv` (one row per non-empty cell) into a directory being built;
/// segment names are neutralised against spreadsheet formulas ([`crate::csvcell`]) unless
/// `raw` (`--raw-csv`).
pub fn write_csv(path: &Path, m: &Migration, raw: bool) -> Result<()> {
    use crate::csvcell::cell;
    crate::output::write_file(path, |w| {
        let mut csv = csv::Writer::from_writer(w);
        let err = |e: csv::Error| Error::io(path, "writing", std::io::Error::other(e.to_string()));
        csv.write_record([
            "from_segment",
            "from_name",
            "to_segment",
            "to_name",
            "customers",
            "share_of_from",
        ])
        .map_err(err)?;
        for f in &m.flows {
            csv.write_record([
                f.from_segment.to_string(),
                cell(&f.from_name, raw).into_owned(),
                f.to_segment.to_string(),
                cell(&f.to_name, raw).into_owned(),
                f.customers.to_string(),
                f.share_of_from.to_string(),
            ])
            .map_err(err)?;
        }
        csv.flush().map_err(werr(path))
    })
}

/// Writes migration.csv (cells as [`write_csv`] says) and migration.json into `out`, and
/// migration.md when both runs carry outcomes.
pub fn write_files(out: &OutputDir, m: &Migration, raw: bool) -> Result<()> {
    write_csv(&out.file("migration.csv"), m, raw)?;
    crate::output::write_json(&out.file("migration.json"), m)?;
    if !m.outcomes.is_empty() {
        let path = out.file("migration.md");
        crate::output::write_file(&path, |w| {
            let md = |w: &mut dyn std::io::Write| -> std::io::Result<()> {
                use crate::text::md_escape;
                writeln!(w, "# Segment migration\n")?;
                writeln!(w, "Before: {}  ", md_escape(&m.before))?;
                writeln!(w, "After: {}\n", md_escape(&m.after))?;
                writeln!(w, "{}", md_escape(&describe(m)))?;
                writeln!(w, "\n## Outcomes by segment, before vs after")?;
                super::outcomes::write_md(w, &m.outcomes, "Before", "After")
            };
            md(w).map_err(werr(&path))
        })?;
    }
    Ok(())
}

/// The segments.json beside a labels file.
fn segments_json_beside(labels: &Path) -> PathBuf {
    labels
        .parent()
        .unwrap_or(Path::new("."))
        .join("segments.json")
}

/// `cardseg compare`: the migration between two run directories (or labels files),
/// written to `out` (migration.csv, migration.json) atomically.
pub fn compare(before: &Path, after: &Path, out: &Path, force: bool) -> Result<Migration> {
    let (pb, pa) = (labels_path(before), labels_path(after));
    let inputs = crate::output::Inputs::none()
        .path(before)
        .path(after)
        .path(&pb)
        .path(&pa)
        .path(segments_json_beside(&pb))
        .path(segments_json_beside(&pa));
    crate::output::check_output(out, force, &inputs)?;
    let m = between(before, after)?;
    let dir = OutputDir::create(out, force, &inputs)?;
    dir.mark(&crate::output::Provenance::new(
        "compare",
        m.model_checksum_after.as_deref(),
    ))?;
    write_files(&dir, &m, false)?;
    dir.commit()?;
    Ok(m)
}

/// The migration between two run directories (or labels files), with the outcomes of
/// both runs when both carry them; writes nothing (`compare` and the Python package).
pub fn between(before: &Path, after: &Path) -> Result<Migration> {
    let (pb, pa) = (labels_path(before), labels_path(after));
    let lb = read_labels(&pb)?;
    let la = read_labels(&pa)?;
    let mut m = migrate(
        &pb.display().to_string(),
        &lb,
        &pa.display().to_string(),
        &la,
    )?;
    let ob = super::outcomes::RunOutcomes::read(&segments_json_beside(&pb))?;
    let oa = super::outcomes::RunOutcomes::read(&segments_json_beside(&pa))?;
    if let (Some(ob), Some(oa)) = (ob, oa) {
        m.outcomes = super::outcomes::compare(&ob, &oa);
    }
    m.model_checksum_before = crate::output::model_checksum_of(&pb);
    m.model_checksum_after = crate::output::model_checksum_of(&pa);
    Ok(m)
}

/// A few lines for people.
pub fn describe(m: &Migration) -> String {
    use crate::text::thousands;
    let mut s = format!(
        "{} customers in both runs: {} stayed in their segment, {} moved (segment id changed), {} changed segment name; {} new, {} gone",
        thousands(m.customers_in_both),
        thousands(m.stayed),
        thousands(m.moved),
        thousands(m.name_changed),
        thousands(m.new_customers),
        thousands(m.gone_customers)
    );
    if m.unlabelled > 0 {
        s.push_str(&format!(
            ", {} unlabelled in one run",
            thousands(m.unlabelled)
        ));
    }
    let (d, e) = (
        m.duplicate_ids_before + m.duplicate_ids_after,
        m.missing_ids_before + m.missing_ids_after,
    );
    if d + e > 0 {
        s.push_str(&format!(
            "; left out: {} duplicated ids, {} rows without an id",
            thousands(d),
            thousands(e)
        ));
    }
    s.push('.');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, seg: Option<u32>) -> LabelRecord {
        (id.to_string(), seg.map(|s| (s, format!("S{s}"))))
    }

    #[test]
    fn flows_new_gone_duplicates_and_splits() {
        let before = vec![
            rec("a", Some(1)),
            rec("b", Some(1)),
            rec("c", Some(1)),
            rec("d", Some(1)),
            rec("e", Some(2)),
            rec("gone", Some(2)),
            rec("dup", Some(2)),
            rec("dup", Some(2)),
            rec("", Some(2)),
        ];
        let after = vec![
            rec("a", Some(1)),
            rec("b", Some(1)),
            rec("c", Some(3)),
            rec("d", Some(3)),
            rec("e", None),
            rec("new", Some(1)),
            rec("dup", Some(1)),
        ];
        let m = migrate("b", &before, "a", &after).unwrap();
        assert_eq!(m.customers_in_both, 5);
        assert_eq!(m.customers_compared, 4);
        assert_eq!((m.stayed, m.moved), (2, 2));
        assert_eq!((m.new_customers, m.gone_customers), (1, 1));
        assert_eq!(m.unlabelled, 1);
        assert_eq!((m.duplicate_ids_before, m.missing_ids_before), (1, 1));
        assert_eq!(m.flows.len(), 2);
        assert_eq!(m.flows[1].share_of_from, 0.5);
        assert_eq!(
            m.splits,
            vec![Split {
                from_segment: 1,
                into: vec![1, 3]
            }]
        );
        assert!(migrate("b", &before, "a", &[rec("zz", Some(1))]).is_err());
    }
}
