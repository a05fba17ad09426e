//! JSON request bodies of `POST /v1/score`: one customer object, or an array of them,
//! parsed in one pass straight into feature columns (no intermediate JSON tree).
//!
//! Each object's keys are matched against the model's features and id column; other keys
//! are skipped, so a client may send whole customer records. A feature is a JSON number or
//! a numeric string (parsed strictly by [`parse_number`], exactly like a CSV cell); `null`,
//! an absent key or an empty string mark it missing. Anything else is refused with the
//! customer's index and the field's name.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::{show_number, show_value};
use crate::ingest::number::{check_value, parse_number, Cell};
use crate::model::Model;

/// Customers of one JSON request, as columns in the model's feature order.
#[derive(Debug, Default)]
pub struct Batch {
    /// The id column's value for each customer, when the object has it.
    pub ids: Vec<Option<String>>,
    /// `cols[j][i]`: feature j of customer i; NaN where missing.
    pub cols: Vec<Vec<f64>>,
    /// Per customer: keys that match a model feature except for letter case, as
    /// `(key, feature)` (the key was ignored; the feature counts as missing).
    pub case_mismatches: Vec<Vec<(String, String)>>,
}

impl Batch {
    /// Customers in the request.
    pub fn len(&self) -> usize {
        self.ids.len()
    }
    /// Whether the request had no customer (an empty array).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Why a JSON body was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum ParseError {
    /// A customer's field is wrong: its 0-based index in the request and the field name.
    Field {
        /// The customer's position in the request (0 for a single object).
        index: usize,
        /// The key whose value was refused.
        field: String,
        /// What is wrong with the value and what to do.
        message: String,
    },
    /// More customers than allowed in one request.
    TooMany {
        /// The most customers one request may carry.
        limit: usize,
    },
    /// Not JSON, or not an object / array of objects.
    Body(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Field { index, field, message } => write!(f, "customer {index}: field {field}: {message}"),
            ParseError::TooMany { limit } => write!(
                f,
                "more than {limit} customers in one request; split the batch into requests of at most {limit}"
            ),
            ParseError::Body(m) => f.write_str(m),
        }
    }
}

/// Shared by every seed: the model's names, the columns being filled and the first
/// precise error (serde's own error then only unwinds the parser).
struct Ctx<'m> {
    features: &'m [String],
    id_column: Option<&'m str>,
    limit: usize,
    batch: RefCell<Batch>,
    error: RefCell<Option<ParseError>>,
}

impl Ctx<'_> {
    fn fail<E: de::Error>(&self, e: ParseError) -> E {
        let mut slot = self.error.borrow_mut();
        if slot.is_none() {
            *slot = Some(e);
        }
        E::custom("refused")
    }
    fn field_error<E: de::Error>(&self, index: usize, field: &str, message: String) -> E {
        self.fail(ParseError::Field {
            index,
            field: field.to_string(),
            message,
        })
    }
}

/// Parses a request body into columns for `model`; at most `limit` customers.
pub fn parse_customers(body: &[u8], model: &Model, limit: usize) -> Result<Batch, ParseError> {
    let ctx = Ctx {
        features: &model.features,
        id_column: model.id_column.as_deref(),
        limit,
        batch: RefCell::new(Batch {
            ids: Vec::new(),
            cols: vec![Vec::new(); model.features.len()],
            case_mismatches: Vec::new(),
        }),
        error: RefCell::new(None),
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let outcome = TopSeed { ctx: &ctx }
        .deserialize(&mut de)
        .and_then(|_| de.end());
    if let Some(e) = ctx.error.into_inner() {
        return Err(e);
    }
    match outcome {
        Ok(()) => Ok(ctx.batch.into_inner()),
        Err(e) if e.is_eof() => Err(ParseError::Body(format!("the JSON body ends early ({e})"))),
        Err(e) => Err(ParseError::Body(format!(
            "the body is not valid JSON ({e})"
        ))),
    }
}

struct TopSeed<'a, 'm> {
    ctx: &'a Ctx<'m>,
}

impl<'de> DeserializeSeed<'de> for TopSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a customer object or an array of customer objects")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        CustomerSeed {
            ctx: self.ctx,
            index: 0,
        }
        .visit_map(map)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        if let Some(n) = seq.size_hint() {
            let mut b = self.ctx.batch.borrow_mut();
            b.ids.reserve(n.min(self.ctx.limit));
        }
        loop {
            if index == self.ctx.limit {
                // One more element means the batch is over the limit.
                if seq.next_element::<IgnoredAny>()?.is_some() {
                    return Err(self.ctx.fail(ParseError::TooMany {
                        limit: self.ctx.limit,
                    }));
                }
                return Ok(());
            }
            if seq
                .next_element_seed(CustomerSeed {
                    ctx: self.ctx,
                    index,
                })?
                .is_none()
            {
                return Ok(());
            }
            index += 1;
        }
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(self.ctx.fail(ParseError::Body(
            "expected a customer object or an array of customer objects, got null".into(),
        )))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(self.ctx.fail(ParseError::Body(
            "expected a customer object or an array of customer objects, got a boolean".into(),
        )))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(self.ctx.fail(ParseError::Body(
            "expected a customer object or an array of customer objects, got a string".into(),
        )))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(self.ctx.fail(ParseError::Body(
            "expected a customer object or an array of customer objects, got a number".into(),
        )))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.visit_f64(v as f64)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.visit_f64(v as f64)
    }
}

/// One customer object at `index`: appends one row to every column.
struct CustomerSeed<'a, 'm> {
    ctx: &'a Ctx<'m>,
    index: usize,
}

impl<'de> DeserializeSeed<'de> for CustomerSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

/// Which slot a key of a customer object fills.
enum Key {
    Feature(usize),
    Id,
    /// A feature's name in other letter case: the key as sent, and the feature's index.
    CaseOf(String, usize),
    Other,
}

struct KeySeed<'a, 'm> {
    ctx: &'a Ctx<'m>,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_, '_> {
    type Value = Key;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_, '_> {
    type Value = Key;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, k: &str) -> Result<Key, E> {
        if let Some(j) = self.ctx.features.iter().position(|f| f == k) {
            return Ok(Key::Feature(j));
        }
        if self.ctx.id_column == Some(k) {
            return Ok(Key::Id);
        }
        if let Some(j) = self
            .ctx
            .features
            .iter()
            .position(|f| f.eq_ignore_ascii_case(k) || f.to_lowercase() == k.to_lowercase())
        {
            return Ok(Key::CaseOf(k.to_string(), j));
        }
        Ok(Key::Other)
    }
}

impl<'de> Visitor<'de> for CustomerSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a customer object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let ctx = self.ctx;
        let d = ctx.features.len();
        // Small stack buffers: the model's features are few.
        let mut values = vec![f64::NAN; d];
        let mut seen = vec![false; d];
        let mut id: Option<String> = None;
        let mut id_seen = false;
        let mut mismatches = Vec::new();
        while let Some(key) = map.next_key_seed(KeySeed { ctx })? {
            match key {
                Key::Feature(j) => {
                    let field = ctx.features[j].as_str();
                    if seen[j] {
                        return Err(ctx.field_error(
                            self.index,
                            field,
                            "appears twice in the object".into(),
                        ));
                    }
                    seen[j] = true;
                    if let Some(v) = map.next_value_seed(NumberSeed {
                        ctx,
                        index: self.index,
                        field,
                    })? {
                        values[j] = v;
                    }
                }
                Key::Id => {
                    let field = ctx.id_column.unwrap_or_default();
                    if id_seen {
                        return Err(ctx.field_error(
                            self.index,
                            field,
                            "appears twice in the object".into(),
                        ));
                    }
                    id_seen = true;
                    id = map.next_value_seed(IdSeed {
                        ctx,
                        index: self.index,
                        field,
                    })?;
                }
                Key::CaseOf(k, j) => {
                    mismatches.push((k, ctx.features[j].clone()));
                    map.next_value::<IgnoredAny>()?;
                }
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let mut b = ctx.batch.borrow_mut();
        b.ids.push(id);
        b.case_mismatches.push(mismatches);
        for (col, v) in b.cols.iter_mut().zip(values) {
            col.push(v);
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(self.not_object("an array"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(self.not_object("null"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(self.not_object("a boolean"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(self.not_object("a string"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(self.not_object("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(self.not_object("a number"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(self.not_object("a number"))
    }
}

impl CustomerSeed<'_, '_> {
    fn not_object<E: de::Error>(&self, got: &str) -> E {
        self.ctx.fail(ParseError::Body(format!(
            "customer {}: expected an object with the model's features, got {got}",
            self.index
        )))
    }
}

/// A feature value: Some(number), None when missing (null or empty string).
struct NumberSeed<'a, 'm> {
    ctx: &'a Ctx<'m>,
    index: usize,
    field: &'a str,
}

const NOT_A_NUMBER: &str =
    "is not a number; send a JSON number or a numeric string, or null when the value is missing";

impl<'de> DeserializeSeed<'de> for NumberSeed<'_, '_> {
    type Value = Option<f64>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<f64>, D::Error> {
        let (ctx, index, field) = (self.ctx, self.index, self.field);
        d.deserialize_any(self).map_err(|e| {
            // A token that is not JSON at all (NaN, Infinity, 1e999): name the field too.
            if ctx.error.borrow().is_none() {
                let msg =
                    format!("is not a valid JSON number ({e}); NaN and infinity are not accepted");
                ctx.field_error::<D::Error>(index, field, msg)
            } else {
                e
            }
        })
    }
}

impl<'de> Visitor<'de> for NumberSeed<'_, '_> {
    type Value = Option<f64>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Option<f64>, E> {
        // The same limits as a CSV cell (finite, at most 1e15 in magnitude).
        match check_value(v) {
            Cell::Value(v) => Ok(Some(v)),
            Cell::Bad(why) => Err(self.ctx.field_error(
                self.index,
                self.field,
                format!("{} {why}", show_number(v)),
            )),
            Cell::Missing => Ok(None),
        }
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Option<f64>, E> {
        // `as` rounds to nearest, like parsing the same digits as a float.
        self.visit_f64(v as f64)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Option<f64>, E> {
        self.visit_f64(v as f64)
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<f64>, E> {
        match parse_number(s.as_bytes()) {
            Cell::Missing => Ok(None),
            Cell::Value(v) => Ok(Some(v)),
            Cell::Bad(why) => Err(self.ctx.field_error(
                self.index,
                self.field,
                format!("{} {why}", show_value(s.as_bytes())),
            )),
        }
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<f64>, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Option<f64>, E> {
        Ok(None)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Option<f64>, E> {
        Err(self
            .ctx
            .field_error(self.index, self.field, format!("{v} {NOT_A_NUMBER}")))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Option<f64>, A::Error> {
        Err(self
            .ctx
            .field_error(self.index, self.field, format!("an array {NOT_A_NUMBER}")))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Option<f64>, A::Error> {
        Err(self
            .ctx
            .field_error(self.index, self.field, format!("an object {NOT_A_NUMBER}")))
    }
}

/// The id column's value: a string or a number (kept as its text); null means absent.
struct IdSeed<'a, 'm> {
    ctx: &'a Ctx<'m>,
    index: usize,
    field: &'a str,
}

/// Ids are echoed back; anything longer is not an id.
const MAX_ID_BYTES: usize = 256;

impl<'de> DeserializeSeed<'de> for IdSeed<'_, '_> {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        let (ctx, index, field) = (self.ctx, self.index, self.field);
        let not_json = |e: &dyn fmt::Display| {
            if ctx.error.borrow().is_none() {
                ctx.field_error::<D::Error>(index, field, format!("is not valid JSON ({e})"))
            } else {
                <D::Error as de::Error>::custom(e)
            }
        };
        // The value's own text, so a number is echoed as written: 1.50 stays 1.50, and a
        // 30-digit integer keeps its digits (as f64 it would change).
        let raw =
            <Box<RawValue> as serde::Deserialize>::deserialize(d).map_err(|e| not_json(&e))?;
        let text = raw.get();
        if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
            if text.len() > MAX_ID_BYTES {
                return Err(ctx.field_error(
                    index,
                    field,
                    format!(
                        "is a number of {} characters; ids are at most {MAX_ID_BYTES} bytes",
                        text.len()
                    ),
                ));
            }
            return Ok(Some(text.to_string()));
        }
        serde_json::Deserializer::from_str(text)
            .deserialize_any(self)
            .map_err(|e| not_json(&e))
    }
}

impl<'de> Visitor<'de> for IdSeed<'_, '_> {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a customer id")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<String>, E> {
        if s.len() > MAX_ID_BYTES {
            return Err(self.ctx.field_error(
                self.index,
                self.field,
                format!("is {} bytes long; ids are at most {MAX_ID_BYTES}", s.len()),
            ));
        }
        Ok(Some(s.trim().to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Option<String>, E> {
        Ok(None)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Option<String>, E> {
        Err(self.ctx.field_error(
            self.index,
            self.field,
            "is a boolean; an id is a string or a number".into(),
        ))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Option<String>, A::Error> {
        Err(self.ctx.field_error(
            self.index,
            self.field,
            "is an array; an id is a string or a number".into(),
        ))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Option<String>, A::Error> {
        Err(self.ctx.field_error(
            self.index,
            self.field,
            "is an object; an id is a string or a number".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Model {
        serde_json::from_value(serde_json::json!({
            "cardseg_version": "t", "id_column": "ID", "features": ["A", "B"], "profile_features": [],
            "missing_policy": "median",
            "cleaning": [{"column": "A", "missing": 0, "fill_value": 1.0}, {"column": "B", "missing": 0, "fill_value": 2.0}],
            "scaler": {"features": ["A", "B"], "data_min": [0.0, 0.0], "data_max": [1.0, 1.0], "scale": [1.0, 1.0], "min": [0.0, 0.0]},
            "k": 1, "centroids_scaled": [[0.0, 0.0]], "centroids": [[0.0, 0.0]],
            "segments": [{"id": 1, "name": "x", "rationale": "", "action": "", "customers": 1, "share": 1.0}],
            "training_rows": 1, "training_source": "t", "inertia": 0.0,
            "silhouette": {"method": "exact", "sample_size": 1, "std_error": null, "value": 0.0},
            "k_selection": {"rule": "knee", "k_min": 1, "k_max": 1, "knee": null, "best_silhouette": null, "chosen": 1, "reason": "", "sweep": []},
            "seed": 1, "n_init": 1
        }))
        .unwrap()
    }

    #[test]
    fn columns_ids_and_missing_values() {
        let b = parse_customers(
            br#"[{"ID":"a","A":1.5,"B":"2"},{"B":null,"X":{"deep":[1,2]}},{"ID":7,"A":""}]"#,
            &model(),
            10,
        )
        .unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!(
            b.ids,
            vec![Some("a".to_string()), None, Some("7".to_string())]
        );
        assert_eq!(b.cols[0][0], 1.5);
        assert_eq!(b.cols[1][0], 2.0);
        assert!(b.cols[0][1].is_nan() && b.cols[1][1].is_nan() && b.cols[0][2].is_nan());
    }

    #[test]
    fn numeric_ids_come_back_as_written_and_within_the_length_limit() {
        let m = model();
        let b = parse_customers(
            br#"[{"ID":123456789012345678901234567890},{"ID":1.5e300},{"ID":1.50},{"ID":-0},{"ID":" x "}]"#,
            &m,
            10,
        )
        .unwrap();
        let ids: Vec<&str> = b.ids.iter().map(|i| i.as_deref().unwrap()).collect();
        assert_eq!(
            ids,
            [
                "123456789012345678901234567890",
                "1.5e300",
                "1.50",
                "-0",
                "x"
            ]
        );
        let long = format!(r#"[{{}},{{"ID":{}}}]"#, "9".repeat(257));
        let e = parse_customers(long.as_bytes(), &m, 10).unwrap_err();
        assert!(
            matches!(&e, ParseError::Field { index: 1, field, message } if field == "ID" && message.contains("at most 256")),
            "{e}"
        );
        let at_limit = format!(r#"{{"ID":{}}}"#, "9".repeat(256));
        assert_eq!(
            parse_customers(at_limit.as_bytes(), &m, 10).unwrap().ids[0]
                .as_ref()
                .unwrap()
                .len(),
            256
        );
        for (body, says) in [
            (r#"{"ID":true}"#, "boolean"),
            (r#"{"ID":[1]}"#, "array"),
            (r#"{"ID":{"a":1}}"#, "object"),
        ] {
            let e = parse_customers(body.as_bytes(), &m, 10).unwrap_err();
            assert!(e.to_string().contains(says), "{body}: {e}");
        }
        assert_eq!(
            parse_customers(br#"{"ID":null}"#, &m, 10).unwrap().ids,
            [None]
        );
    }

    #[test]
    fn limits_and_errors_name_index_and_field() {
        let m = model();
        assert_eq!(parse_customers(b"[{},{},{}]", &m, 3).unwrap().len(), 3);
        assert_eq!(
            parse_customers(b"[{},{},{},{}]", &m, 3).unwrap_err(),
            ParseError::TooMany { limit: 3 }
        );
        let e = parse_customers(br#"[{},{"A":1,"A":2}]"#, &m, 10).unwrap_err();
        assert!(
            matches!(&e, ParseError::Field { index: 1, field, .. } if field == "A"),
            "{e}"
        );
        let e = parse_customers(br#"[{"B":"0x10"}]"#, &m, 10).unwrap_err();
        assert!(
            matches!(&e, ParseError::Field { index: 0, field, .. } if field == "B"),
            "{e}"
        );
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(
            parse_customers(deep.as_bytes(), &m, 10),
            Err(ParseError::Body(_))
        ));
        let deep_value = format!(
            r#"[{{"X":{}{}}}]"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        // Skipped keys are ignored without recursion: deep nesting there is harmless.
        assert_eq!(
            parse_customers(deep_value.as_bytes(), &m, 10)
                .unwrap()
                .len(),
            1
        );
        let deep_feature = format!(
            r#"[{{"A":{}{}}}]"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let e = parse_customers(deep_feature.as_bytes(), &m, 10).unwrap_err();
        assert!(matches!(e, ParseError::Field { index: 0, .. }), "{e}");
        assert!(matches!(
            parse_customers(b"\xff", &m, 10),
            Err(ParseError::Body(_))
        ));
    }

    /// A huge JSON number is refused and shown short, not as its 301 digits.
    #[test]
    fn a_huge_number_is_refused_and_shown_short() {
        let e = parse_customers(br#"[{"ID":"a","A":1e300,"B":1}]"#, &model(), 10)
            .unwrap_err()
            .to_string();
        assert!(e.contains("1e300 is larger than 1e15"), "{e}");
        assert!(!e.contains(&"0".repeat(45)), "value shown whole: {e}");
    }
}
