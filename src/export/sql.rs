//! The model as one SQL `SELECT` that scores every customer of a table (or of a query)
//! inside the database, exactly as `predict` does.
//!
//! Shape of the query (CTEs, any number of rows, one row out per row in):
//! 1. `cardseg_scaled`: each feature as `CAST(... AS DOUBLE)`, a NULL replaced by the
//!    model's fill value (`COALESCE`), then scaled by [`transform`]: `x * scale + min`.
//! 2. `cardseg_dist`: the squared distance to each centroid, `(z1 - c1) * (z1 - c1) +
//!    (z2 - c2) * (z2 - c2) + ...`, summed left to right in feature order like
//!    `cluster::distance`.
//! 3. `cardseg_min`: the smallest of them (`LEAST`, SQLite's `MIN`, or for ANSI SQL a
//!    `CASE` chain picking the first smallest).
//! 4. the result: the id column under its own name, `segment` (the id of the FIRST
//!    centroid whose distance equals the minimum: ties go to the lower index, as
//!    `cluster::nearest`), `segment_name`, and `distance` = `SQRT(minimum)`. With the
//!    drop policy a NULL feature makes every distance NULL, so the three are NULL and the
//!    customer still gets its row.
//!
//! Every identifier is quoted for the dialect and every column is qualified with the
//! source's alias, so a column the table lacks is an error when the query is compiled
//! (even in SQLite, which reads an unknown bare `"name"` as a string): a query over the
//! wrong table fails instead of returning NULLs. Numbers go in as
//! `CAST('<shortest round-trip text>' AS DOUBLE)`, which every engine parses to the same
//! 64-bit value.

use crate::error::{Error, Result};
use crate::model::Model;
use crate::scale::ScalerKind;

use super::{check_model, fills, fmt_f64, header_lines};

/// The SQL dialects `cardseg export --dialect` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// PostgreSQL.
    Postgres,
    /// SQLite.
    Sqlite,
    /// DuckDB.
    Duckdb,
    /// Spark SQL.
    Spark,
    /// Google BigQuery.
    Bigquery,
    /// Standard SQL only, for an engine not listed.
    Ansi,
}

impl std::str::FromStr for Dialect {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s {
            "postgres" | "postgresql" => Dialect::Postgres,
            "sqlite" => Dialect::Sqlite,
            "duckdb" => Dialect::Duckdb,
            "spark" => Dialect::Spark,
            "bigquery" => Dialect::Bigquery,
            "ansi" => Dialect::Ansi,
            _ => {
                return Err(format!(
                    "--dialect takes postgres, sqlite, duckdb, spark, bigquery or ansi, not {s:?}"
                ))
            }
        })
    }
}

impl Dialect {
    /// The dialect's name as `--dialect` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Postgres => "postgres",
            Dialect::Sqlite => "sqlite",
            Dialect::Duckdb => "duckdb",
            Dialect::Spark => "spark",
            Dialect::Bigquery => "bigquery",
            Dialect::Ansi => "ansi",
        }
    }

    /// The 64-bit floating-point type.
    fn double(self) -> &'static str {
        match self {
            Dialect::Postgres | Dialect::Ansi => "DOUBLE PRECISION",
            Dialect::Sqlite => "REAL",
            Dialect::Duckdb | Dialect::Spark => "DOUBLE",
            Dialect::Bigquery => "FLOAT64",
        }
    }

    /// Whether strings and quoted identifiers take backslash escapes (Spark, BigQuery)
    /// rather than doubling the quote.
    fn backslash_escapes(self) -> bool {
        matches!(self, Dialect::Spark | Dialect::Bigquery)
    }

    /// A quoted identifier: `"..."` with `""` for a quote (PostgreSQL, SQLite, DuckDB,
    /// ANSI), `` `...` `` with ```` `` ```` (Spark), `` `...` `` with backslash escapes
    /// (BigQuery). Whatever the name holds, it stays one identifier.
    pub fn quote_ident(self, name: &str) -> String {
        match self {
            Dialect::Spark => format!("`{}`", name.replace('`', "``")),
            Dialect::Bigquery => format!("`{}`", backslash_escape(name, '`')),
            _ => format!("\"{}\"", name.replace('"', "\"\"")),
        }
    }

    /// A string literal holding `s` exactly.
    pub fn string(self, s: &str) -> String {
        if self.backslash_escapes() {
            format!("'{}'", backslash_escape(s, '\''))
        } else {
            format!("'{}'", s.replace('\'', "''"))
        }
    }

    /// A 64-bit float constant: the shortest round-trip text, cast from a string so that
    /// no engine reads it as a decimal of limited precision first.
    pub fn number(self, v: f64) -> String {
        format!("CAST('{}' AS {})", fmt_f64(v), self.double())
    }
}

/// Backslash-escapes a quoted text for Spark and BigQuery: the quote, the backslash and
/// every control character (as `\uXXXX`).
fn backslash_escape(s: &str, quote: char) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for ch in s.chars() {
        if ch == quote || ch == '\\' {
            out.push('\\');
            out.push(ch);
        } else if ch.is_control() || matches!(ch, '\u{2028}' | '\u{2029}') {
            out.push_str(&format!("\\u{:04x}", ch as u32));
        } else {
            out.push(ch);
        }
    }
    out
}

/// Where the customers are: a table (or view) by name, or the rows of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlSource {
    /// `NAME` or `schema.NAME` (up to `catalog.schema.NAME`); each part is quoted.
    Table(String),
    /// A `SELECT` used as a subquery.
    Query(String),
}

/// Options of [`to_sql`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlOptions {
    /// Which SQL dialect to write (types, quoting and functions differ).
    pub dialect: Dialect,
    /// Where the query reads the customers from (a table or a query).
    pub source: SqlSource,
}

/// Default `--table`.
pub const DEFAULT_TABLE: &str = "customers";

impl Default for SqlOptions {
    fn default() -> Self {
        SqlOptions {
            dialect: Dialect::Ansi,
            source: SqlSource::Table(DEFAULT_TABLE.to_string()),
        }
    }
}

/// The scaler's transform of feature `j` as SQL: `g(x) * scale + min` in 64-bit floating
/// point, the order of operations of `MinMaxScaler::transform_columns` (two roundings,
/// never fused). `g` is the identity except for a log-minmax scaler, where it is
/// `sign(x) * ln(1 + |x|)`, written as `LN(1 + ABS(x))` negated for negative x, the
/// expression `scale::signed_log` computes.
pub fn transform(model: &Model, dialect: Dialect, j: usize, x: &str) -> String {
    let s = &model.scaler;
    let g = if s.kind == ScalerKind::LogMinmax {
        format!("(CASE WHEN {x} < 0 THEN -LN(1 + ABS({x})) ELSE LN(1 + ABS({x})) END)")
    } else {
        x.to_string()
    };
    format!(
        "({g} * {} + {})",
        dialect.number(s.scale[j]),
        dialect.number(s.min[j])
    )
}

/// The FROM item for the customers, aliased `cardseg_src`.
fn from_item(opts: &SqlOptions) -> Result<String> {
    let d = opts.dialect;
    match &opts.source {
        SqlSource::Table(name) => {
            let parts: Vec<&str> = name.split('.').collect();
            if name.trim().is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
                return Err(Error::usage(format!(
                    "--table {:?}: give NAME, schema.NAME or catalog.schema.NAME (a name with a dot inside goes through --query)",
                    name
                )));
            }
            if name.contains('\0') {
                return Err(Error::usage("--table: the name contains a NUL character"));
            }
            let q: Vec<String> = parts.iter().map(|p| d.quote_ident(p)).collect();
            Ok(format!("{} AS cardseg_src", q.join(".")))
        }
        SqlSource::Query(q) => {
            let body = crate::ingest::query_text(q);
            if body.is_empty() {
                return Err(Error::usage(
                    "--query is empty; give a SELECT that returns the customers",
                ));
            }
            check_subquery(body)?;
            Ok(format!("(\n{body}\n) AS cardseg_src"))
        }
    }
}

/// Refuses a `--query` that would not stay one subquery once pasted inside parentheses:
/// a `;` or an unbalanced parenthesis outside quotes and comments (a second statement, or
/// text that closes the subquery early), and an unterminated quote or comment.
fn check_subquery(q: &str) -> Result<()> {
    let refuse = |what: String| {
        Err(Error::usage(format!(
            "--query {what}; give one SELECT (its own quotes and parentheses closed), or create a view and pass --table"
        )))
    };
    let b = q.as_bytes();
    let (mut i, mut depth) = (0usize, 0i64);
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"' | b'`') => {
                // A quoted text or name; a doubled quote inside stands for itself.
                let mut j = i + 1;
                loop {
                    match b.get(j) {
                        None => {
                            return refuse(format!(
                                "opens a {} at byte {} that never closes",
                                q as char,
                                i + 1
                            ))
                        }
                        Some(&c) if c == q && b.get(j + 1) == Some(&q) => j += 2,
                        Some(&c) if c == q => break,
                        Some(_) => j += 1,
                    }
                }
                i = j + 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |p| i + p + 1);
            }
            b'/' if b.get(i + 1) == Some(&b'*') => match q[i + 2..].find("*/") {
                Some(p) => i += p + 4,
                None => {
                    return refuse(format!(
                        "opens a comment at byte {} that never closes",
                        i + 1
                    ))
                }
            },
            b';' => return refuse(format!("holds a ; at byte {} (a second statement)", i + 1)),
            b'(' => {
                depth += 1;
                i += 1;
            }
            b')' => {
                depth -= 1;
                if depth < 0 {
                    return refuse(format!(
                        "closes a parenthesis at byte {} that it never opened",
                        i + 1
                    ));
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    if depth > 0 {
        return refuse(format!("leaves {depth} parenthesis(es) open"));
    }
    Ok(())
}

/// The model as one SQL query for `opts.dialect` that returns, for every row of
/// `opts.source`, the id column (when the model has one, under its own name),
/// `segment`, `segment_name` and `distance`: the same segment as `cardseg predict` for
/// every customer, and the Euclidean distance to its centroid in scaled units. The text
/// starts with a comment naming the model (`checksum`), its k and features. Errors: a
/// model that cannot be scored exactly outside cardseg ([`super::check_model`]), a bad
/// `--table` or an empty `--query`.
pub fn to_sql(model: &Model, checksum: &str, opts: &SqlOptions) -> Result<String> {
    check_model(model, checksum)?;
    let d = opts.dialect;
    let from = from_item(opts)?;
    let k = model.k;
    let fills = fills(model);
    let mut q = String::new();
    for line in header_lines(model, checksum) {
        q.push_str("-- ");
        q.push_str(&line);
        q.push('\n');
    }
    q.push_str(&format!(
        "-- dialect {}; one row per customer: {}segment, segment_name, distance\n",
        d.name(),
        match &model.id_column {
            Some(id) => format!("{} (the id), ", super::comment_text(id)),
            None => String::new(),
        }
    ));
    q.push_str("WITH cardseg_scaled AS (\n  SELECT\n");
    let mut cols = Vec::new();
    if let Some(id) = &model.id_column {
        cols.push(format!(
            "    cardseg_src.{} AS cardseg_id",
            d.quote_ident(id)
        ));
    }
    for (j, f) in model.features.iter().enumerate() {
        let raw = format!("CAST(cardseg_src.{} AS {})", d.quote_ident(f), d.double());
        let x = match fills[j] {
            Some(v) => format!("COALESCE({raw}, {})", d.number(v)),
            None => raw,
        };
        cols.push(format!("    {} AS z{}", transform(model, d, j, &x), j + 1));
    }
    q.push_str(&cols.join(",\n"));
    q.push_str(&format!("\n  FROM {from}\n),\n"));
    q.push_str("cardseg_dist AS (\n  SELECT\n");
    let mut cols = Vec::new();
    if model.id_column.is_some() {
        cols.push("    cardseg_id".to_string());
    }
    for (c, centroid) in model.centroids_scaled.iter().enumerate() {
        let terms: Vec<String> = centroid
            .iter()
            .enumerate()
            .map(|(j, &v)| {
                let t = format!("(z{} - {})", j + 1, d.number(v));
                format!("{t} * {t}")
            })
            .collect();
        cols.push(format!("    {} AS d{}", terms.join(" + "), c + 1));
    }
    q.push_str(&cols.join(",\n"));
    q.push_str("\n  FROM cardseg_scaled\n),\n");
    let ds: Vec<String> = (1..=k).map(|c| format!("d{c}")).collect();
    let min = match d {
        _ if k == 1 => "d1".to_string(),
        Dialect::Sqlite => format!("MIN({})", ds.join(", ")),
        Dialect::Ansi => {
            // The first smallest, without LEAST (not in older SQL standards): d_c is
            // taken when it is <= every later one and no earlier one was taken.
            let mut s = String::from("CASE");
            for c in 1..k {
                let conds: Vec<String> = (c + 1..=k).map(|m| format!("d{c} <= d{m}")).collect();
                s.push_str(&format!(" WHEN {} THEN d{c}", conds.join(" AND ")));
            }
            s.push_str(&format!(" ELSE d{k} END"));
            s
        }
        _ => format!("LEAST({})", ds.join(", ")),
    };
    q.push_str("cardseg_min AS (\n  SELECT\n    ");
    if model.id_column.is_some() {
        q.push_str("cardseg_id, ");
    }
    q.push_str(&format!(
        "{},\n    {min} AS dmin\n  FROM cardseg_dist\n)\n",
        ds.join(", ")
    ));
    q.push_str("SELECT\n");
    let mut cols = Vec::new();
    if let Some(id) = &model.id_column {
        cols.push(format!("  cardseg_id AS {}", d.quote_ident(id)));
    }
    let case = |value: &dyn Fn(usize) -> String| {
        let mut s = String::from("CASE");
        for c in 1..=k {
            s.push_str(&format!(" WHEN d{c} = dmin THEN {}", value(c - 1)));
        }
        s.push_str(" END");
        s
    };
    let segs = &model.segments;
    cols.push(format!(
        "  {} AS {}",
        case(&|i| segs[i].id.to_string()),
        d.quote_ident("segment")
    ));
    cols.push(format!(
        "  {} AS {}",
        case(&|i| d.string(&segs[i].name)),
        d.quote_ident("segment_name")
    ));
    cols.push(format!("  SQRT(dmin) AS {}", d.quote_ident("distance")));
    q.push_str(&cols.join(",\n"));
    q.push_str("\nFROM cardseg_min\n");
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_strings_stay_quoted() {
        let evil = "a\"; DROP TABLE x; --`b'\\";
        assert_eq!(
            Dialect::Postgres.quote_ident(evil),
            "\"a\"\"; DROP TABLE x; --`b'\\\""
        );
        assert_eq!(
            Dialect::Spark.quote_ident(evil),
            "`a\"; DROP TABLE x; --``b'\\`"
        );
        assert_eq!(
            Dialect::Bigquery.quote_ident(evil),
            "`a\"; DROP TABLE x; --\\`b'\\\\`"
        );
        assert_eq!(Dialect::Sqlite.string("it's"), "'it''s'");
        assert_eq!(Dialect::Spark.string("it's\\\n"), "'it\\'s\\\\\\u000a'");
        assert_eq!(Dialect::Duckdb.number(0.1), "CAST('0.1' AS DOUBLE)");
    }

    #[test]
    fn table_names_are_checked() {
        let o = |t: &str| SqlOptions {
            dialect: Dialect::Postgres,
            source: SqlSource::Table(t.into()),
        };
        assert_eq!(
            from_item(&o("s.my table")).unwrap(),
            "\"s\".\"my table\" AS cardseg_src"
        );
        assert!(from_item(&o("a..b")).is_err());
        assert!(from_item(&o("")).is_err());
        assert!(from_item(&o("a.b.c.d")).is_err());
        let q = SqlOptions {
            dialect: Dialect::Postgres,
            source: SqlSource::Query("SELECT 1;  ".into()),
        };
        assert_eq!(from_item(&q).unwrap(), "(\nSELECT 1\n) AS cardseg_src");
        let query = |t: &str| {
            from_item(&SqlOptions {
                dialect: Dialect::Postgres,
                source: SqlSource::Query(t.into()),
            })
        };
        // One SELECT, whatever its quotes and comments hold.
        for ok in [
            "SELECT * FROM t WHERE name = 'a;b)' AND \"odd;(\" > 0",
            "SELECT (1 + (2)) AS x FROM t -- a comment ; with )\n",
            "SELECT 'it''s' /* ; ) */ FROM `a;b`",
        ] {
            assert!(query(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            (
                "SELECT 1) x; DROP TABLE t; --",
                "closes a parenthesis at byte 9",
            ),
            ("SELECT 1; DROP TABLE t", "holds a ; at byte 9"),
            ("SELECT (1", "leaves 1 parenthesis(es) open"),
            ("SELECT 'a", "never closes"),
            ("SELECT 1 /* x", "never closes"),
        ] {
            let e = query(bad).err().unwrap().to_string();
            assert!(e.contains(why) && e.contains("--table"), "{bad}: {e}");
        }
    }
}
