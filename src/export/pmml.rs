//! The model as a PMML 4.4 document: a `ClusteringModel` (`centerBased`, squared
//! Euclidean) that any PMML evaluator (jpmml-evaluator, the reference implementation;
//! jpmml-evaluator-spark on Spark) scores exactly as `predict` does.
//!
//! - `MiningSchema`: one `MiningField` per feature, `missingValueReplacement` = the
//!   model's fill value (with the drop policy, `missingValueTreatment="returnInvalid"`:
//!   a customer with a missing feature gets no segment).
//! - `LocalTransformations`: the scaler's `x * scale + min` as a `NormContinuous` with two
//!   `LinearNorm` points and `outliers="asIs"` (values outside the training range are
//!   extrapolated on the same line, as `predict` does). The points are (0, min) and
//!   (2^p, min + scale * 2^p) with p chosen so that the evaluator's interpolation
//!   `min + (x - 0) / 2^p * ((min + scale * 2^p) - min)` performs exactly the two
//!   roundings of `x * scale + min` (see [`linear_points`]); when no such p exists the
//!   field is written as the arithmetic itself (`Apply` of `*` and `+`).
//! - one `Cluster` per segment (id, name, centroid in scaled units), in segment order.
//! - `Output`: `segment` (the cluster id), `segment_name`, `squared_distance` (the
//!   affinity of the winning cluster) and `distance` (its square root).

use crate::clean::MissingPolicy;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::scale::ScalerKind;

use super::{check_model, fills, fmt_f64, header_lines};

/// Names of the output fields (and of the result columns of every export).
const OUTPUTS: [&str; 4] = ["segment", "segment_name", "squared_distance", "distance"];

/// Escapes text for an XML attribute or element; None when it holds a character XML 1.0
/// cannot carry at all (most control characters).
fn xml(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// The two `LinearNorm` points `(0, min)`, `(a2, b2)` whose interpolation reproduces
/// `x * scale + min` bit for bit, or None. A PMML evaluator computes
/// `b1 + (x - a1) / (a2 - a1) * (b2 - b1)`. With `a1 = 0`, `b1 = min` and `a2 = 2^p`,
/// `x / 2^p` is exact, and when `b2 - min` evaluates to exactly `scale * 2^p` the product
/// is `x * scale` rounded once, then `+ min` rounds as the scaler does. Such a `b2`
/// exists for the p where `scale * 2^p` is within a factor of two of `|min|` (Sterbenz),
/// or for p = 0 when min is 0; small |p| are tried first, so `x / 2^p` stays exact for
/// any value a customer table holds.
pub fn linear_points(scale: f64, min: f64) -> Option<(f64, f64, f64, f64)> {
    let p0 = if min == 0.0 || scale == 0.0 {
        0
    } else {
        (min.abs() / scale.abs()).log2().round().clamp(-60.0, 60.0) as i32
    };
    let mut ps = vec![0, p0, p0 - 1, p0 + 1, p0 - 2, p0 + 2];
    ps.dedup();
    for p in ps {
        if !(-60..=60).contains(&p) {
            continue;
        }
        let a2 = 2f64.powi(p);
        let big = scale * a2;
        if !big.is_finite() || big / a2 != scale {
            continue;
        }
        let b2 = min + big;
        if b2.is_finite() && b2 - min == big {
            return Some((0.0, min, a2, b2));
        }
    }
    None
}

/// The model as a PMML 4.4 document (UTF-8 XML text) whose `ClusteringModel` gives every
/// customer the same segment as `cardseg predict`, with `segment`, `segment_name`,
/// `squared_distance` and `distance` as output fields. `checksum` is named in the
/// header. Errors: a model that cannot be scored exactly outside cardseg
/// ([`super::check_model`]), a name XML cannot carry (control characters), or a feature
/// named like an output field.
pub fn to_pmml(model: &Model, checksum: &str) -> Result<String> {
    check_model(model, checksum)?;
    let shown = checksum.to_string();
    let esc = |what: &str, s: &str| {
        xml(s).ok_or_else(|| {
            Error::model(
                &shown,
                format!(
                    "cannot be exported as PMML: the {what} {} holds a control character that XML cannot carry; rename it",
                    crate::error::one_line(s)
                ),
            )
        })
    };
    let d = model.features.len();
    let derived: Vec<String> = (1..=d).map(|j| format!("cardseg_scaled_{j}")).collect();
    for f in &model.features {
        if OUTPUTS.contains(&f.as_str()) || derived.contains(f) {
            return Err(Error::model(
                &shown,
                format!("cannot be exported as PMML: the feature {f} has the name of a PMML output or derived field; rename the column (for example with a view) and train again"),
            ));
        }
    }
    let fills = fills(model);
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    x.push_str("<PMML xmlns=\"http://www.dmg.org/PMML-4_4\" version=\"4.4\">\n");
    x.push_str(&format!(
        "  <Header description=\"cardseg customer segments, model {}\">\n",
        esc("checksum", checksum)?
    ));
    x.push_str(&format!(
        "    <Application name=\"cardseg\" version=\"{}\"/>\n",
        env!("CARGO_PKG_VERSION")
    ));
    for line in header_lines(model, checksum) {
        x.push_str(&format!(
            "    <Annotation>{}</Annotation>\n",
            esc("header", &line)?
        ));
    }
    x.push_str("  </Header>\n");
    x.push_str(&format!("  <DataDictionary numberOfFields=\"{d}\">\n"));
    for f in &model.features {
        x.push_str(&format!(
            "    <DataField name=\"{}\" optype=\"continuous\" dataType=\"double\"/>\n",
            esc("feature", f)?
        ));
    }
    x.push_str("  </DataDictionary>\n");
    x.push_str(&format!(
        "  <ClusteringModel modelName=\"cardseg\" functionName=\"clustering\" modelClass=\"centerBased\" numberOfClusters=\"{}\">\n",
        model.k
    ));
    x.push_str("    <MiningSchema>\n");
    for (f, fill) in model.features.iter().zip(&fills) {
        let treatment = match (model.missing_policy, fill) {
            (MissingPolicy::Drop, _) | (_, None) => {
                " missingValueTreatment=\"returnInvalid\"".to_string()
            }
            (p, Some(v)) => format!(
                " missingValueReplacement=\"{}\" missingValueTreatment=\"{}\"",
                fmt_f64(*v),
                if p == MissingPolicy::Mean {
                    "asMean"
                } else {
                    "asMedian"
                }
            ),
        };
        x.push_str(&format!(
            "      <MiningField name=\"{}\" usageType=\"active\"{treatment}/>\n",
            esc("feature", f)?
        ));
    }
    x.push_str("    </MiningSchema>\n");
    x.push_str("    <Output>\n");
    x.push_str("      <OutputField name=\"segment\" optype=\"categorical\" dataType=\"integer\" feature=\"predictedValue\"/>\n");
    x.push_str("      <OutputField name=\"segment_name\" optype=\"categorical\" dataType=\"string\" feature=\"predictedDisplayValue\"/>\n");
    x.push_str("      <OutputField name=\"squared_distance\" optype=\"continuous\" dataType=\"double\" feature=\"affinity\"/>\n");
    x.push_str("      <OutputField name=\"distance\" optype=\"continuous\" dataType=\"double\" feature=\"transformedValue\">\n");
    x.push_str("        <Apply function=\"sqrt\"><FieldRef field=\"squared_distance\"/></Apply>\n");
    x.push_str("      </OutputField>\n");
    x.push_str("    </Output>\n");
    x.push_str("    <LocalTransformations>\n");
    for (j, f) in model.features.iter().enumerate() {
        x.push_str(&format!(
            "      <DerivedField name=\"{}\" optype=\"continuous\" dataType=\"double\">\n",
            derived[j]
        ));
        x.push_str(&transform(model, j, &esc("feature", f)?));
        x.push_str("      </DerivedField>\n");
    }
    x.push_str("    </LocalTransformations>\n");
    x.push_str("    <ComparisonMeasure kind=\"distance\">\n      <squaredEuclidean/>\n    </ComparisonMeasure>\n");
    for name in &derived {
        x.push_str(&format!("    <ClusteringField field=\"{name}\"/>\n"));
    }
    for (seg, c) in model.segments.iter().zip(&model.centroids_scaled) {
        let values: Vec<String> = c.iter().map(|v| fmt_f64(*v)).collect();
        x.push_str(&format!(
            "    <Cluster id=\"{}\" name=\"{}\" size=\"{}\">\n      <Array n=\"{d}\" type=\"real\">{}</Array>\n    </Cluster>\n",
            seg.id,
            esc("segment name", &seg.name)?,
            seg.customers,
            values.join(" ")
        ));
    }
    x.push_str("  </ClusteringModel>\n</PMML>\n");
    Ok(x)
}

/// The body of feature `j`'s derived field: the scaler's `g(x) * scale + min`. For the
/// identity `g` (minmax, standard, robust) a `NormContinuous` whose two points reproduce
/// that arithmetic bit for bit when they exist, else the same as an expression; for a
/// log-minmax scaler, `g(x) = sign(x) * ln(1 + |x|)` as PMML functions, as
/// `scale::signed_log` computes it. `field` is the XML-escaped input field name.
fn transform(model: &Model, j: usize, field: &str) -> String {
    let (scale, min) = (model.scaler.scale[j], model.scaler.min[j]);
    let affine = |g: &str| {
        format!(
            "        <Apply function=\"+\"><Apply function=\"*\">{g}<Constant dataType=\"double\">{}</Constant></Apply><Constant dataType=\"double\">{}</Constant></Apply>\n",
            fmt_f64(scale),
            fmt_f64(min)
        )
    };
    if model.scaler.kind == ScalerKind::LogMinmax {
        let log = format!(
            "<Apply function=\"ln\"><Apply function=\"+\"><Constant dataType=\"double\">1</Constant><Apply function=\"abs\"><FieldRef field=\"{field}\"/></Apply></Apply></Apply>"
        );
        let g = format!(
            "<Apply function=\"if\"><Apply function=\"lessThan\"><FieldRef field=\"{field}\"/><Constant dataType=\"double\">0</Constant></Apply><Apply function=\"*\"><Constant dataType=\"double\">-1</Constant>{log}</Apply>{log}</Apply>"
        );
        return affine(&g);
    }
    match linear_points(scale, min) {
        Some((a1, b1, a2, b2)) => format!(
            "        <NormContinuous field=\"{field}\" outliers=\"asIs\">\n          <LinearNorm orig=\"{}\" norm=\"{}\"/>\n          <LinearNorm orig=\"{}\" norm=\"{}\"/>\n        </NormContinuous>\n",
            fmt_f64(a1),
            fmt_f64(b1),
            fmt_f64(a2),
            fmt_f64(b2)
        ),
        None => affine(&format!("<FieldRef field=\"{field}\"/>")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The interpolation of a PMML evaluator on (0, min), (a2, b2) equals the scaler's
    /// arithmetic for scalers of every magnitude and for values inside and far outside
    /// the training range.
    #[test]
    fn linear_norm_points_reproduce_the_scaler() {
        let mut r = crate::rng::Rng::new(9);
        let mut found = 0;
        for i in 0..5000 {
            let lo = match i % 4 {
                0 => 0.0,
                1 => (r.uniform() - 0.5) * 10f64.powi((r.below(12) as i32) - 3),
                2 => r.uniform() * 1000.0,
                _ => -r.uniform() * 1e6,
            };
            let hi = lo + r.uniform() * 10f64.powi(r.below(16) as i32 - 4) + 1e-9;
            let scale = 1.0 / (hi - lo);
            let min = 0.0 - lo * scale;
            let Some((a1, b1, a2, b2)) = linear_points(scale, min) else {
                continue;
            };
            found += 1;
            for _ in 0..50 {
                let x = lo + (r.uniform() * 3.0 - 1.0) * (hi - lo) * 10f64.powi(r.below(4) as i32);
                let pmml = b1 + (x - a1) / (a2 - a1) * (b2 - b1);
                assert_eq!(pmml.to_bits(), (x * scale + min).to_bits(), "{lo} {hi} {x}");
            }
        }
        assert!(found > 4900, "{found}");
    }

    #[test]
    fn xml_escapes_and_refuses_control_characters() {
        assert_eq!(xml("a<b>&\"'").unwrap(), "a&lt;b&gt;&amp;&quot;&apos;");
        assert_eq!(xml("a\nb").unwrap(), "a&#10;b");
        assert!(xml("a\u{1}b").is_none());
    }
}
