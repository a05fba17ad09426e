//! Builds a [`Table`] from sources that hand over typed values (SQLite, Parquet, JSON,
//! PostgreSQL, Arrow frames) with the same rules as the CSV reader: the id column is
//! text, required columns must be numbers (an error names the row, column and value),
//! other columns are loaded when every value is a number and reported as text otherwise;
//! nulls are missing values. Typed numbers pass the CSV reader's value check
//! ([`check_value`]: finite, at most 1e15 in magnitude) here, once for every source.

use crate::error::{show_number, show_value, Error, Param, Result};
use crate::ingest::number::{check_value, parse_number, Cell, NOT_A_NUMBER};
use crate::ingest::plan::{plan, Plan, Slot, Wording};
use crate::ingest::{Limits, ReadSpec};
use crate::table::{Column, ColumnInfo, ColumnKind, Ids, Spilled, Table};

/// One value as a source delivers it.
#[derive(Debug, Clone, Copy)]
pub enum Val<'a> {
    /// SQL NULL, JSON null, a Parquet null or an absent JSON key.
    Null,
    /// A floating-point number.
    Num(f64),
    /// An integer.
    Int(i64),
    /// An unsigned integer too large for `i64`.
    UInt(u64),
    /// Text; a numeric string is a number, an empty one is missing.
    Text(&'a [u8]),
    /// A value of a type that is never a number (boolean, blob, date, nested); the text
    /// is how it is shown.
    Other(&'a str),
}

/// Judges a value of a loaded column by the rules of a CSV cell: typed numbers by
/// [`check_value`] (the bound and message of the CSV reader), text by [`parse_number`].
fn judge(v: Val) -> Cell {
    match v {
        Val::Null => Cell::Missing,
        Val::Num(f) => check_value(f),
        // `as` rounds to the nearest `f64`, as parsing the same digits does.
        Val::Int(i) => check_value(i as f64),
        Val::UInt(u) => check_value(u as f64),
        Val::Text(t) => match parse_number(t) {
            Cell::Bad(NOT_A_NUMBER) => Cell::Bad(
                "is text, not a number; fix the value, or make it NULL to mark it missing",
            ),
            c => c,
        },
        Val::Other(_) => {
            Cell::Bad("is not a number; fix the value, or make it NULL to mark it missing")
        }
    }
}

/// A value as a message shows it: text quoted and cut short, numbers as written (long
/// ones in scientific notation), exact for integers.
fn shown(v: Val) -> String {
    match v {
        Val::Null => String::new(),
        Val::Num(f) => show_number(f),
        Val::Int(i) => itoa::Buffer::new().format(i).to_string(),
        Val::UInt(u) => itoa::Buffer::new().format(u).to_string(),
        Val::Text(t) => show_value(t),
        Val::Other(o) => o.to_string(),
    }
}

/// Accumulates a table column by column or row by row.
pub struct TableBuilder {
    source: String,
    /// The name errors print (a part file of a Parquet folder, for example).
    error_source: String,
    names: Vec<String>,
    slots: Vec<Slot>,
    columns: Vec<Column>,
    info: Vec<ColumnInfo>,
    text_cols: Vec<bool>,
    ids: Ids,
    id_column: Option<String>,
    rows: u64,
    /// Where loaded columns that are not required go at the end of each batch of rows
    /// instead of staying in memory (see [`TableBuilder::spill_to`]).
    spill: Option<Spilled>,
}

impl TableBuilder {
    /// Resolves the columns the spec asks for against the source's column `names`, after
    /// checking their number against `limits`.
    pub fn new(source: &str, names: Vec<String>, spec: &ReadSpec, limits: &Limits) -> Result<Self> {
        limits.check_columns(source, names.len(), "")?;
        let duplicate = |want: &str, hits: &[usize]| {
            format!(
                "column {want} appears {} times; rename the copies (in SQL: SELECT ... AS other_name)",
                hits.len()
            )
        };
        let words = Wording {
            place: "",
            listing: "the columns are",
            duplicate: &duplicate,
        };
        let Plan {
            slots,
            id_column,
            columns,
        } = plan(source, &names, spec, &words)?;
        let info = names.iter().map(|n| ColumnInfo::numeric(n)).collect();
        Ok(TableBuilder {
            source: source.to_string(),
            error_source: source.to_string(),
            text_cols: vec![false; names.len()],
            names,
            slots,
            columns,
            info,
            ids: Ids::with_capacity(1024),
            id_column,
            rows: 0,
            spill: None,
        })
    }

    /// Keeps the loaded columns that are not required in `spill` rather than in memory:
    /// each batch of rows ([`TableBuilder::end_rows`]) moves there, and
    /// [`TableBuilder::finish_spilling`] hands the file back with the table, as the CSV
    /// reader does. Only the profile reads such columns, one at a time.
    pub fn spill_to(&mut self, spill: Spilled) {
        self.spill = Some(spill);
    }

    /// Sets the name that errors print from now on (the part being read).
    pub fn set_error_source(&mut self, name: &str) {
        self.error_source = name.to_string();
    }

    /// How many columns the source has.
    pub fn column_count(&self) -> usize {
        self.names.len()
    }

    /// Whether column `j` has to be read at all (id, or loaded). Columns that are not are
    /// still described by `inspect` when `other_numeric` is set, because then every
    /// column is loaded.
    pub fn wanted(&self, j: usize) -> bool {
        self.slots[j] != Slot::Skip
    }

    /// Whether column `j` is the id column.
    pub fn is_id(&self, j: usize) -> bool {
        self.slots[j] == Slot::Id
    }

    /// Reserves room for `n` more rows in every loaded column.
    pub fn reserve(&mut self, n: usize) {
        for c in &mut self.columns {
            c.values.reserve(n);
        }
    }

    /// Marks column `j` as one that cannot hold numbers (a nested or repeated Parquet
    /// column): an error if it is required, otherwise it is reported as text.
    pub fn unsupported(&mut self, j: usize, what: &str) -> Result<()> {
        match self.slots[j] {
            Slot::Load { required: true, .. } | Slot::Id => Err(Error::input(
                &self.error_source,
                format!(
                    "column {} is {what}, which cannot be read as {}",
                    self.names[j],
                    if self.is_id(j) {
                        "customer ids"
                    } else {
                        "numbers"
                    }
                ),
            )),
            Slot::Load { col, .. } => {
                self.make_text(j, col, None);
                Ok(())
            }
            Slot::Skip => {
                self.text_cols[j] = true;
                Ok(())
            }
        }
    }

    fn make_text(&mut self, j: usize, col: usize, first: Option<(u64, String)>) {
        if let Some(spill) = &mut self.spill {
            spill.forget(&self.columns[col].name);
        }
        self.slots[j] = Slot::Skip;
        self.text_cols[j] = true;
        if self.info[j].first_text.is_none() {
            self.info[j].first_text = first;
        }
        self.columns[col].values = Vec::new();
        self.columns[col].name.clear();
    }

    /// Adds the value of column `j` at `row` (1-based, for messages). Values of a column
    /// must come in row order; columns may be filled one after the other.
    #[inline]
    pub fn push(&mut self, j: usize, row: u64, v: Val) -> Result<()> {
        if matches!(v, Val::Null) || matches!(v, Val::Text(t) if t.trim_ascii().is_empty()) {
            self.info[j].missing += 1;
        }
        match self.slots[j] {
            Slot::Skip => {
                if !self.text_cols[j] {
                    let shown = match v {
                        Val::Text(t)
                            if !matches!(parse_number(t), Cell::Value(_) | Cell::Missing) =>
                        {
                            Some(show_value(t))
                        }
                        Val::Other(o) => Some(o.to_string()),
                        Val::Num(_) | Val::Int(_) | Val::UInt(_) => {
                            matches!(judge(v), Cell::Bad(_)).then(|| shown(v))
                        }
                        _ => None,
                    };
                    if let Some(s) = shown {
                        self.text_cols[j] = true;
                        self.info[j].first_text = Some((row, s));
                    }
                }
                Ok(())
            }
            Slot::Id => {
                match v {
                    Val::Null => self.ids.push(""),
                    Val::Int(i) => self.ids.push(itoa::Buffer::new().format(i)),
                    Val::UInt(u) => self.ids.push(itoa::Buffer::new().format(u)),
                    Val::Num(f) => self.ids.push(&f.to_string()),
                    // Its text is a stand-in (`a BLOB`, `true`) that many customers
                    // would share, so it is refused rather than used as an id.
                    Val::Other(o) => {
                        let what = match o {
                            "true" | "false" => format!("the boolean {o}"),
                            _ => o.to_string(),
                        };
                        return Err(Error::RowCell {
                            source_name: self.error_source.clone(),
                            row,
                            column: self.names[j].clone(),
                            message: format!(
                                "{what} is not an id; an id is a string or a number: store the ids as text or integers in the source, name another id column with {}, or pass {}",
                                Param::IdColumn,
                                Param::NoId
                            ),
                        });
                    }
                    Val::Text(t) => {
                        let s = std::str::from_utf8(t).map_err(|_| Error::RowCell {
                            source_name: self.error_source.clone(),
                            row,
                            column: self.names[j].clone(),
                            message: format!(
                                "customer id {} is not valid UTF-8 text",
                                show_value(t)
                            ),
                        })?;
                        self.ids.push(s.trim());
                    }
                }
                Ok(())
            }
            Slot::Load { col, required } => {
                match judge(v) {
                    Cell::Missing => self.columns[col].values.push(f64::NAN),
                    Cell::Value(x) => self.columns[col].values.push(x),
                    Cell::Bad(why) => {
                        let shown = shown(v);
                        if required {
                            return Err(Error::RowCell {
                                source_name: self.error_source.clone(),
                                row,
                                column: self.names[j].clone(),
                                message: format!("{shown} {why}"),
                            });
                        }
                        self.make_text(j, col, Some((row, shown)));
                    }
                }
                Ok(())
            }
        }
    }

    /// Adds a batch of column `j`'s values, the first at `row` (1-based, for messages),
    /// from a column-by-column source: `present` says, for each row, whether it has a
    /// value (the next of `vals`) or is null; None when every row has one. A loaded
    /// column's numbers go straight into it; anything else (the id column, text, a value
    /// out of bounds) takes [`TableBuilder::push`], which gives the same table.
    pub fn push_batch<T>(
        &mut self,
        j: usize,
        row: u64,
        vals: &[T],
        present: Option<&mut dyn Iterator<Item = bool>>,
        val: impl Fn(&T) -> Val,
    ) -> Result<()> {
        let mut next = vals.iter();
        let mut all = std::iter::repeat_n(true, vals.len());
        let present: &mut dyn Iterator<Item = bool> = match present {
            Some(p) => p,
            None => &mut all,
        };
        let mut at = row;
        if let Slot::Load { col, .. } = self.slots[j] {
            let values = &mut self.columns[col].values;
            values.reserve(vals.len());
            let mut missing = 0;
            let mut pending = None;
            for has in &mut *present {
                let Some(x) = (if has { next.next() } else { None }) else {
                    missing += 1;
                    values.push(f64::NAN);
                    at += 1;
                    continue;
                };
                let v = val(x);
                let f = match v {
                    Val::Num(f) => f,
                    Val::Int(i) => i as f64,
                    Val::UInt(u) => u as f64,
                    _ => f64::NAN,
                };
                if f.is_finite() && f.abs() <= crate::ingest::number::MAX_ABS {
                    values.push(f);
                    at += 1;
                } else {
                    pending = Some(v);
                    break;
                }
            }
            self.info[j].missing += missing;
            if let Some(v) = pending {
                self.push(j, at, v)?;
                at += 1;
            }
        }
        for has in present {
            let v = match if has { next.next() } else { None } {
                Some(x) => val(x),
                None => Val::Null,
            };
            self.push(j, at, v)?;
            at += 1;
        }
        Ok(())
    }

    /// Ends a row of a row-by-row source.
    #[inline]
    pub fn end_row(&mut self) {
        self.rows += 1;
        if self.id_column.is_none() {
            self.ids.push(itoa::Buffer::new().format(self.rows));
        }
    }

    /// Ends `n` rows of a column-by-column source (after all its columns were pushed).
    pub fn end_rows(&mut self, n: u64) {
        for _ in 0..n {
            self.end_row();
        }
    }

    /// [`TableBuilder::end_rows`], then the batch's values of the columns kept out of
    /// memory move to the file.
    pub fn end_batch(&mut self, n: u64) -> Result<()> {
        self.end_rows(n);
        if let Some(spill) = &mut self.spill {
            for slot in &self.slots {
                if let Slot::Load {
                    col,
                    required: false,
                } = *slot
                {
                    let c = &mut self.columns[col];
                    spill.append(&c.name, &c.values)?;
                    c.values.clear();
                }
            }
        }
        Ok(())
    }

    /// Rows added so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The table, once every row is in, with the column kinds settled (text, empty); an
    /// error when the source has no rows.
    pub fn finish(self) -> Result<Table> {
        self.finish_spilling().map(|(t, _)| t)
    }

    /// [`TableBuilder::finish`], and the file holding the columns kept out of memory
    /// (not in the table), if [`TableBuilder::spill_to`] gave one.
    pub fn finish_spilling(mut self) -> Result<(Table, Option<Spilled>)> {
        let rows = self.rows;
        if rows == 0 {
            return Err(Error::input(&self.source, "has no customer rows"));
        }
        for (j, ci) in self.info.iter_mut().enumerate() {
            if self.text_cols[j] {
                ci.kind = ColumnKind::Text;
            } else if ci.missing == rows {
                ci.kind = ColumnKind::Empty;
            }
            if self.slots[j] == Slot::Id {
                ci.kind = ColumnKind::Text;
            }
        }
        let mut spill = self.spill;
        if let Some(sp) = &mut spill {
            sp.set_order(
                self.columns
                    .iter()
                    .filter(|c| !c.name.is_empty())
                    .map(|c| c.name.clone())
                    .collect(),
            );
        }
        self.columns
            .retain(|c| !c.name.is_empty() && !spill.as_ref().is_some_and(|s| s.contains(&c.name)));
        debug_assert!(self.columns.iter().all(|c| c.values.len() as u64 == rows));
        self.ids.shrink_to_fit();
        let table = Table {
            source: self.source,
            id_column: self.id_column,
            ids: self.ids,
            columns: self.columns,
            info: self.info,
            row_based: true,
        };
        Ok((table, spill))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::IdSpec;

    fn spec(required: &[&str]) -> ReadSpec {
        ReadSpec {
            id: IdSpec::default_column(),
            required: required.iter().map(|s| s.to_string()).collect(),
            other_numeric: true,
            delimiter: None,
        }
    }

    #[test]
    fn rows_types_and_errors() {
        let names = vec!["CUST_ID".into(), "A".into(), "NOTE".into(), "B".into()];
        let mut b =
            TableBuilder::new("db", names.clone(), &spec(&["A"]), &Limits::default()).unwrap();
        let rows: [[Val; 4]; 3] = [
            [
                Val::Text(b"c1"),
                Val::Int(3),
                Val::Text(b"hello"),
                Val::Null,
            ],
            [Val::Int(7), Val::Num(2.5), Val::Null, Val::Text(b" 4.5 ")],
            [
                Val::Null,
                Val::Text(b"1e3"),
                Val::Other("true"),
                Val::UInt(1 << 40),
            ],
        ];
        for (i, r) in rows.iter().enumerate() {
            for (j, v) in r.iter().enumerate() {
                b.push(j, i as u64 + 1, *v).unwrap();
            }
            b.end_row();
        }
        let t = b.finish().unwrap();
        assert_eq!(t.ids.iter().collect::<Vec<_>>(), vec!["c1", "7", ""]);
        assert_eq!(t.column("A").unwrap().values, vec![3.0, 2.5, 1000.0]);
        assert!(t.column("NOTE").is_none());
        assert_eq!(t.info[2].kind, ColumnKind::Text);
        assert_eq!(t.info[2].first_text, Some((1, "\"hello\"".into())));
        let bv = &t.column("B").unwrap().values;
        assert!(bv[0].is_nan() && bv[1] == 4.5);
        assert_eq!(t.info[3].missing, 1);

        let mut b = TableBuilder::new("db", names, &spec(&["A"]), &Limits::default()).unwrap();
        let e = b.push(1, 12, Val::Text(b"abc")).unwrap_err().to_string();
        assert_eq!(e, "db: row 12: column A: \"abc\" is text, not a number; fix the value, or make it NULL to mark it missing");
        let e = b.push(1, 13, Val::Num(f64::NAN)).unwrap_err().to_string();
        assert!(e.contains("row 13") && e.contains("finite"), "{e}");
        // The CSV reader's bound, for every typed number; values shown short and exact.
        for (v, shown) in [
            (Val::Num(1e300), "1e300"),
            (Val::Num(-1.2e22), "-12000000000000000000000"),
            (Val::Int(i64::MIN), "-9223372036854775808"),
            (Val::UInt(u64::MAX), "18446744073709551615"),
            (Val::Text(b"1e300"), "\"1e300\""),
        ] {
            let e = b.push(1, 14, v).unwrap_err().to_string();
            assert_eq!(
                e,
                format!("db: row 14: column A: {shown} is larger than 1e15 in magnitude, beyond any amount cardseg accepts (64-bit sums of such values lose precision or overflow); check the data for wrong units or corrupt values")
            );
        }
        assert!(b.push(1, 15, Val::Num(-1e15)).is_ok());
        // In a column that is not required, such a value makes the column text.
        b.push(3, 15, Val::Num(1.7e308)).unwrap();
        b.end_row();
        let t = b.finish().unwrap();
        assert!(t.column("B").is_none());
        assert_eq!(t.info[3].kind, ColumnKind::Text);
        assert_eq!(t.info[3].first_text, Some((15, "1.7e308".into())));
        let names = vec!["CUST_ID".into(), "A".into(), "NOTE".into(), "B".into()];
        let mut b = TableBuilder::new("db", names, &spec(&["A"]), &Limits::default()).unwrap();
        b.push(3, 1, Val::Int(7)).unwrap();
        b.push(3, 2, Val::UInt(u64::MAX)).unwrap();
        assert_eq!(
            b.info[3].first_text,
            Some((2, "18446744073709551615".into()))
        );
        // A value that is neither text nor a number is no id: its shown text is shared.
        let names = vec!["CUST_ID".into(), "A".into()];
        let mut b = TableBuilder::new("db", names, &spec(&["A"]), &Limits::default()).unwrap();
        b.push(0, 1, Val::Text(b"c1")).unwrap();
        for (v, what) in [
            (Val::Other("a BLOB"), "a BLOB"),
            (Val::Other("true"), "the boolean true"),
        ] {
            let e = b.push(0, 2, v).unwrap_err().to_string();
            assert_eq!(
                e,
                format!("db: row 2: column CUST_ID: {what} is not an id; an id is a string or a number: store the ids as text or integers in the source, name another id column with id_column, or pass no_id")
            );
        }
        let e = TableBuilder::new("db", vec!["a".into()], &spec(&["A"]), &Limits::default())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("column A not found (did you mean a?"), "{e}");
    }

    #[test]
    fn batches_give_the_table_values_one_by_one_give() {
        let names = vec!["ID".into(), "A".into(), "B".into(), "C".into()];
        let vals: [Option<Val>; 6] = [
            Some(Val::Num(1.5)),
            None,
            Some(Val::Int(-3)),
            Some(Val::UInt(7)),
            None,
            Some(Val::Num(2.0)),
        ];
        // B turns to text at its fourth value; C has a value out of bounds.
        let b_vals: [Option<Val>; 6] = [
            Some(Val::Num(1.0)),
            None,
            Some(Val::Int(2)),
            Some(Val::Text(b"abc")),
            Some(Val::Num(3.0)),
            None,
        ];
        let c_vals: [Option<Val>; 6] = [
            None,
            Some(Val::Num(1e16)),
            Some(Val::Num(1.0)),
            None,
            Some(Val::Num(f64::NAN)),
            Some(Val::Num(0.5)),
        ];
        let one_by_one = {
            let mut b =
                TableBuilder::new("t", names.clone(), &spec(&["A"]), &Limits::default()).unwrap();
            for (j, col) in [(1, &vals), (2, &b_vals), (3, &c_vals)] {
                for (i, v) in col.iter().enumerate() {
                    b.push(j, i as u64 + 1, v.unwrap_or(Val::Null)).unwrap();
                }
            }
            b.end_rows(6);
            b.finish().unwrap()
        };
        let batched = {
            let mut b = TableBuilder::new("t", names, &spec(&["A"]), &Limits::default()).unwrap();
            for (j, col) in [(1, &vals), (2, &b_vals), (3, &c_vals)] {
                let present: Vec<Val> = col.iter().flatten().copied().collect();
                let mut has = col.iter().map(Option::is_some);
                b.push_batch(j, 1, &present, Some(&mut has), |v| *v)
                    .unwrap();
            }
            b.end_rows(6);
            b.finish().unwrap()
        };
        let show = |t: &Table| {
            (
                t.columns
                    .iter()
                    .map(|c| {
                        (
                            c.name.clone(),
                            c.values.iter().map(|v| v.to_bits()).collect(),
                        )
                    })
                    .collect::<Vec<(String, Vec<u64>)>>(),
                t.info
                    .iter()
                    .map(|i| (i.kind, i.missing, i.first_text.clone()))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(show(&batched), show(&one_by_one));
        assert_eq!(batched.column("A").unwrap().values.len(), 6);
        assert!(batched.column("B").is_none() && batched.column("C").is_none());
        // A required column's bad value: the same message, naming its row.
        let mut b = TableBuilder::new(
            "t",
            vec!["ID".into(), "A".into()],
            &spec(&["A"]),
            &Limits::default(),
        )
        .unwrap();
        let e = b
            .push_batch(1, 10, &[1.0, f64::INFINITY], None, |v| Val::Num(*v))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("t: row 11: column A: ") && e.contains("is not a finite number"),
            "{e}"
        );
    }
}
