//! Exporting a model so that other systems score customers exactly as `predict` does:
//! one SQL query per dialect ([`sql`]) and a PMML 4.4 document ([`pmml`]).
//!
//! Both reproduce [`crate::predict::score_columns`]: the model's fill value for a missing
//! feature (or no segment with the drop policy), the scaler's `x * scale + min` in 64-bit
//! floating point, squared Euclidean distances summed in feature order, and the nearest
//! centroid with ties to the lower segment index. Numbers are written in their shortest
//! form that parses back to the same 64-bit value ([`fmt_f64`]), so nothing is lost.
//!
//! This is how cardseg scores past one machine: train on one box (on a sample with
//! `run --train-sample`), export, and score in the warehouse or on Spark, next to the data.

pub mod pmml;
pub mod sql;

use std::path::Path;

use crate::clean::MissingPolicy;
use crate::error::{Error, Result};
use crate::model::Model;

pub use crate::model::MAX_MAGNITUDE;

/// The output format of `cardseg export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One SQL `SELECT` in a chosen dialect ([`sql::to_sql`]).
    Sql,
    /// A PMML 4.4 `ClusteringModel` ([`pmml::to_pmml`]).
    Pmml,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "sql" => Ok(Format::Sql),
            "pmml" => Ok(Format::Pmml),
            _ => Err(format!("--format takes sql or pmml, not {s:?}")),
        }
    }
}

/// What `cardseg export` is asked to do.
pub struct ExportJob<'a> {
    /// The model to export.
    pub model: &'a Model,
    /// How errors name the model (its file path).
    pub model_name: &'a str,
    /// The model file's checksum (named in the exported text's header).
    pub checksum: &'a str,
    /// PMML or SQL.
    pub format: Format,
    /// Dialect and source of the SQL (ignored for PMML).
    pub sql: sql::SqlOptions,
    /// File the export is written to.
    pub out: &'a Path,
    /// Replace an existing file (`--force`); without it an existing file is refused.
    pub force: bool,
    /// The model file, when the model came from one: the export may not replace it.
    pub model_path: Option<&'a Path>,
}

/// `cardseg export`: builds the SQL or PMML text, then writes it atomically to `out`.
/// Any problem (a model that cannot be scored outside cardseg, a bad table name, an
/// existing file without `force`) is reported before anything is written.
pub fn export(job: &ExportJob) -> Result<()> {
    let inputs = crate::output::Inputs::none().maybe(job.model_path);
    crate::output::check_output(job.out, job.force, &inputs)?;
    let text = match job.format {
        Format::Sql => sql::to_sql(job.model, job.checksum, &job.sql),
        Format::Pmml => pmml::to_pmml(job.model, job.checksum),
    }
    .map_err(|e| match e {
        // The library names the model by its checksum; the command names its file.
        Error::Model { message, .. } => Error::model(job.model_name, message),
        other => other,
    })?;
    let provenance = crate::output::Provenance::new("export", Some(job.checksum));
    crate::output::write_file_atomic(job.out, job.force, &inputs, &provenance, |w| {
        w.write_all(text.as_bytes())
            .map_err(crate::output::werr(job.out))
    })
}

/// Writes `v` in the shortest form that parses back to the same `f64` (Rust's float
/// formatting is shortest round-trip), as a decimal when that is short and otherwise in
/// scientific notation (`1.5e-7`, `2e300`): both forms are valid SQL numeric text and
/// `xs:double` lexical values. Callers make sure `v` is finite.
pub fn fmt_f64(v: f64) -> String {
    debug_assert!(v.is_finite());
    let plain = format!("{v}");
    if plain.len() <= 24 {
        plain
    } else {
        format!("{v:e}")
    }
}

/// The fill value of each feature (None: no fill, the drop policy), in feature order.
pub(crate) fn fills(model: &Model) -> Vec<Option<f64>> {
    model
        .features
        .iter()
        .map(|f| match model.missing_policy {
            MissingPolicy::Drop => None,
            _ => model.fill_value(f),
        })
        .collect()
}

/// Checks that the model can be written as exact SQL/PMML arithmetic: the one model check
/// every consumer makes ([`Model::problem`]: finite values of sane magnitude, names
/// SQL engines and XML can hold, a segment per centroid), for a model built in memory
/// too (a model loaded from a file has passed it already). Every message names the model
/// and the value, and says what to do.
pub fn check_model(model: &Model, checksum: &str) -> Result<()> {
    let shown = if checksum.is_empty() {
        "(in memory)".to_string()
    } else {
        checksum.to_string()
    };
    match model.problem() {
        None => Ok(()),
        Some(what) => Err(Error::model(
            &shown,
            format!("cannot be exported: {what}; re-create the model with cardseg run"),
        )),
    }
}

/// Text from the model (a name, a source path) made safe for a one-line comment: line
/// breaks and other control characters (and the Unicode line separators) are escaped,
/// so nothing in a name can end the comment and become code.
pub(crate) fn comment_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        if ch.is_control() || matches!(ch, '\u{2028}' | '\u{2029}') {
            out.extend(ch.escape_default());
        } else {
            out.push(ch);
        }
    }
    out
}

/// What the header of an exported file says about the model, one line per item.
pub(crate) fn header_lines(model: &Model, checksum: &str) -> Vec<String> {
    let mut v = vec![
        format!(
            "cardseg {} export of model {checksum}",
            env!("CARGO_PKG_VERSION")
        ),
        format!(
            "model written by cardseg {}; trained on {} customers of {}",
            comment_text(&model.cardseg_version),
            model.training_rows,
            comment_text(&model.training_source)
        ),
        format!(
            "k = {} segments; features (in order): {}",
            model.k,
            model
                .features
                .iter()
                .map(|f| comment_text(f))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ];
    v.push(match model.missing_policy {
        MissingPolicy::Drop => {
            "missing (NULL) feature: no segment (the model drops such customers)".to_string()
        }
        p => format!(
            "missing (NULL) feature: replaced by the training {} ({})",
            match p {
                MissingPolicy::Mean => "mean",
                _ => "median",
            },
            model
                .features
                .iter()
                .zip(fills(model))
                .map(|(f, v)| format!(
                    "{} = {}",
                    comment_text(f),
                    v.map(fmt_f64).unwrap_or_default()
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    });
    v.push(format!(
        "scaler: {} (each feature x becomes g(x) * scale + min{})",
        model.scaler.kind,
        if model.scaler.kind == crate::scale::ScalerKind::LogMinmax {
            ", g(x) = sign(x) * ln(1 + |x|)"
        } else {
            ""
        }
    ));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_round_trip_in_short_text() {
        let mut r = crate::rng::Rng::new(3);
        let mut vals = vec![
            0.0,
            -0.0,
            1.0,
            0.1,
            1e-300,
            5e-324,
            1.7976931348623157e308,
            123456.789,
        ];
        for _ in 0..20_000 {
            vals.push(f64::from_bits(r.next_u64()));
            vals.push(r.uniform() * 1e6);
        }
        for v in vals.into_iter().filter(|v| v.is_finite()) {
            let s = fmt_f64(v);
            assert!(s.len() <= 24, "{s}");
            assert_eq!(s.parse::<f64>().unwrap().to_bits(), v.to_bits(), "{s}");
            // A valid SQL / xs:double numeral: digits, one point, an exponent with digits.
            let ok = s
                .trim_start_matches('-')
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.' || c == 'e' || c == '-');
            assert!(ok && !s.ends_with('e') && !s.starts_with('.'), "{s}");
        }
    }

    #[test]
    fn comments_cannot_be_broken_out_of() {
        assert_eq!(
            comment_text("a\nDROP TABLE x;\r--"),
            "a\\nDROP TABLE x;\\r--"
        );
        assert!(!comment_text("x\u{2028}y").contains('\u{2028}'));
    }
}
