//! Reads an Arrow C stream (`__arrow_c_stream__`, the PyCapsule interface pandas-via-pyarrow,
//! pyarrow and polars all export) into a [`Table`] through the library's
//! [`TableBuilder`], so a DataFrame is read by exactly the rules of the CSV, Parquet and
//! database readers: the id column becomes text, required columns must be numbers (an
//! error names the row, column and value), nulls are missing values.
//!
//! The stream comes from outside the process and may be malformed (a producer bug, a
//! `RecordBatchReader` built from batches that do not match its schema). Every batch is
//! checked before any value is read, in two steps:
//! 1. its C structs against the stream's schema ([`check_array`]): child and buffer counts,
//!    null pointers, negative lengths, offsets and null counts — what arrow-rs's import
//!    would otherwise dereference or assert on;
//! 2. arrow-rs's import and full validation of the result (`ArrayData::validate_full`):
//!    buffer sizes for the declared lengths, offsets in order and in bounds, UTF-8,
//!    child lengths, null counts.
//!
//! A malformed batch is an input error, never a crash. The C data interface carries no
//! buffer sizes, so a producer that declares more values than its buffers hold cannot be
//! detected by any consumer.
//!
//! Columns read: integers, floats (16/32/64-bit), decimals (as the Parquet reader reads
//! DECIMAL: the double of their decimal text), booleans, UTF-8 strings and binary (32- and
//! 64-bit offsets and views), and dictionaries of these (pandas `category`, polars
//! `Categorical`: each row reads as its value). An Arrow null-type column (pandas'
//! all-`None` column) is a column of missing values. Floating-point NaN is a missing value
//! (pandas and polars users mark missing numbers with it); infinity is an error, as in
//! every other source. Other types (dates, nested) are text columns when optional and an
//! error when a required column or the id has them. A null row of the stream's top-level
//! struct (a missing record) is refused, naming the row.
//!
//! Text columns (strings, booleans as `true`/`false`, dictionaries of them) are also read
//! as categories ([`Tracker`], the rule of the CSV reader's second pass), so the profile
//! shows their mix per segment as it does for the same values in a CSV file.

use std::ffi::{c_char, c_void, CStr};

use arrow_array::cast::AsArray;
use arrow_array::ffi::{from_ffi_and_data_type, FFI_ArrowArray, FFI_ArrowSchema};
use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::types::{
    Decimal128Type, Decimal256Type, Decimal32Type, Decimal64Type, Float16Type, Float32Type,
    Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type,
    UInt8Type,
};
use arrow_array::{Array, StructArray};
use arrow_schema::{DataType, Field, Fields};

use cardseg::error::{Error, Result};
use cardseg::ingest::builder::{TableBuilder, Val};
use cardseg::ingest::categories::{TextCategories, Tracker};
use cardseg::ingest::parquet::decimal;
use cardseg::ingest::ReadSpec;
use cardseg::table::{ColumnKind, Table};

/// An Arrow C stream moved out of its capsule: ours to read and release.
pub struct Stream(FFI_ArrowArrayStream);

impl Stream {
    /// Takes the stream out of `ptr` (the capsule's pointer) and marks the original
    /// released, as the interface prescribes for a consumer that moves a stream.
    ///
    /// # Safety
    /// `ptr` must point to an `ArrowArrayStream` (released or not).
    pub unsafe fn take(ptr: *mut FFI_ArrowArrayStream) -> Stream {
        Stream(FFI_ArrowArrayStream::from_raw(ptr))
    }

    fn last_error(&mut self) -> String {
        match self.0.get_last_error() {
            Some(f) => {
                // SAFETY: callback of a live stream whose last call failed; the string
                // lives until the next call.
                let p = unsafe { f(&mut self.0) };
                if p.is_null() {
                    "no reason given".into()
                } else {
                    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
                }
            }
            None => "no reason given".into(),
        }
    }

    fn schema(&mut self, source: &str) -> Result<Fields> {
        if self.0.release().is_none() {
            return Err(bad(
                source,
                "the Arrow stream was already read (a stream can be read once); pass the table itself",
            ));
        }
        let f = self
            .0
            .get_schema()
            .ok_or_else(|| bad(source, "the Arrow stream has no schema"))?;
        let mut s = FFI_ArrowSchema::empty();
        // SAFETY: callback of a live stream writing into a struct we own.
        if unsafe { f(&mut self.0, &mut s) } != 0 {
            let e = self.last_error();
            return Err(bad(
                source,
                &format!("reading the Arrow schema failed: {e}"),
            ));
        }
        if s.release().is_none() {
            return Err(malformed(source, "the stream's schema is released"));
        }
        // SAFETY: `FFI_ArrowSchema` is the C struct `ArrowSchema` (`repr(C)`).
        let raw = unsafe { &*(&s as *const FFI_ArrowSchema as *const RawSchema) };
        check_schema(raw, 0).map_err(|e| malformed(source, &format!("its schema: {e}")))?;
        // A column of a type arrow-rs does not know (polars' Int128): named, before the
        // whole schema's import fails on it.
        if s.format() == "+s" {
            for c in s.children() {
                if DataType::try_from(c).is_err() {
                    return Err(bad(
                        source,
                        &format!(
                            "column {} has an Arrow type cardseg cannot read (format {:?}); \
                             cast it to Int64 or Float64, or drop it",
                            c.name().unwrap_or(""),
                            c.format()
                        ),
                    ));
                }
            }
        }
        let field = Field::try_from(&s).map_err(|e| malformed(source, &e.to_string()))?;
        match field.data_type() {
            DataType::Struct(fields) => Ok(fields.clone()),
            t => Err(bad(
                source,
                &format!(
                    "the Arrow stream is not a table (its type is {t}, not a struct of columns)"
                ),
            )),
        }
    }

    /// The next batch, checked against `fields` and fully validated.
    fn next(&mut self, source: &str, fields: &Fields, batch: u64) -> Result<Option<StructArray>> {
        let f = self
            .0
            .get_next()
            .ok_or_else(|| bad(source, "the Arrow stream has no batches"))?;
        let mut a = FFI_ArrowArray::empty();
        // SAFETY: as in `schema`.
        if unsafe { f(&mut self.0, &mut a) } != 0 {
            let e = self.last_error();
            return Err(bad(source, &format!("reading an Arrow batch failed: {e}")));
        }
        if a.is_released() {
            return Ok(None);
        }
        let dt = DataType::Struct(fields.clone());
        let at = format!("batch {batch}");
        // SAFETY: `FFI_ArrowArray` is the C struct `ArrowArray` (`repr(C)`), and the array
        // is ours (moved out of the producer by `get_next`).
        let raw = unsafe { &mut *(&mut a as *mut FFI_ArrowArray as *mut RawArray) };
        check_array(raw, &dt, &at).map_err(|e| malformed(source, &e))?;
        // SAFETY: the C structs were checked against the type above; arrow-rs computes
        // each buffer's size from the type and the declared length.
        let data = unsafe { from_ffi_and_data_type(a, dt) }
            .map_err(|e| malformed(source, &format!("{at}: {e}")))?;
        // Column by column, so a message names the column.
        for (f, c) in fields.iter().zip(data.child_data()) {
            c.validate_full()
                .map_err(|e| malformed(source, &format!("{at}, column {}: {e}", f.name())))?;
        }
        data.validate_data()
            .map_err(|e| malformed(source, &format!("{at}: {e}")))?;
        Ok(Some(StructArray::from(data)))
    }
}

fn bad(source: &str, msg: &str) -> Error {
    Error::input(source, msg.to_string())
}

fn malformed(source: &str, what: &str) -> Error {
    bad(
        source,
        &format!(
            "the Arrow data is malformed ({what}); the library that produced it has a bug or \
             was given inconsistent data (a batch that does not match the stream's schema)"
        ),
    )
}

/// The C struct `ArrowSchema`, to check a producer's struct before arrow-rs reads it.
#[repr(C)]
struct RawSchema {
    format: *const c_char,
    name: *const c_char,
    metadata: *const c_char,
    flags: i64,
    n_children: i64,
    children: *const *const RawSchema,
    dictionary: *const RawSchema,
    release: Option<unsafe extern "C" fn(*mut RawSchema)>,
    private_data: *mut c_void,
}

/// The C struct `ArrowArray`, likewise.
#[repr(C)]
struct RawArray {
    length: i64,
    null_count: i64,
    offset: i64,
    n_buffers: i64,
    n_children: i64,
    buffers: *const *const c_void,
    children: *const *const RawArray,
    dictionary: *const RawArray,
    release: Option<unsafe extern "C" fn(*mut RawArray)>,
    private_data: *mut c_void,
}

/// Nesting deeper than this is refused (a cycle of child pointers would never end).
const MAX_DEPTH: usize = 64;

/// Pointers a schema's import dereferences: set, and text that is UTF-8.
fn check_schema(s: &RawSchema, depth: usize) -> std::result::Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("types nested deeper than {MAX_DEPTH} levels"));
    }
    if s.format.is_null() {
        return Err("a field has no type (null format)".into());
    }
    // SAFETY: the interface's strings are NUL-terminated and live with their schema.
    let format = unsafe { CStr::from_ptr(s.format) };
    if format.to_str().is_err() {
        return Err("a field's type is not UTF-8 text".into());
    }
    if !s.name.is_null() && unsafe { CStr::from_ptr(s.name) }.to_str().is_err() {
        return Err("a field's name is not UTF-8 text".into());
    }
    if s.n_children < 0 {
        return Err(format!("a field has {} children", s.n_children));
    }
    // Types whose import reads a fixed number of children.
    let needs = match format.to_bytes() {
        b"+l" | b"+L" | b"+vl" | b"+vL" | b"+m" => Some(1),
        f if f.starts_with(b"+w:") => Some(1),
        b"+r" => Some(2),
        _ => None,
    };
    if let Some(k) = needs.filter(|k| *k != s.n_children) {
        return Err(format!(
            "a field of type {:?} has {} children instead of {k}",
            format.to_string_lossy(),
            s.n_children
        ));
    }
    if s.n_children > 0 && s.children.is_null() {
        return Err("a field's children are missing (a null pointer)".into());
    }
    for i in 0..s.n_children as usize {
        // SAFETY: `children` holds `n_children` pointers.
        let c = unsafe { s.children.add(i).read_unaligned() };
        if c.is_null() {
            return Err(format!("child {i} of a field is missing (a null pointer)"));
        }
        // SAFETY: a non-null child pointer of a live schema.
        check_schema(unsafe { &*c }, depth + 1)?;
    }
    if !s.dictionary.is_null() {
        // SAFETY: as for children.
        check_schema(unsafe { &*s.dictionary }, depth + 1)?;
    }
    Ok(())
}

/// A type as messages name it: a struct by its number of fields (its full type would
/// list every column).
fn shown(dt: &DataType) -> String {
    match dt {
        DataType::Struct(f) => format!("a struct of {} fields", f.len()),
        t => format!("type {t}"),
    }
}

/// The children an array of type `dt` has in the C data interface, with the names
/// messages give them.
fn children_of(dt: &DataType) -> Vec<(String, &DataType)> {
    let anon = |t| (String::new(), t);
    match dt {
        DataType::Struct(f) => f
            .iter()
            .map(|f| (format!("column {}", f.name()), f.data_type()))
            .collect(),
        DataType::Union(f, _) => f.iter().map(|(_, f)| anon(f.data_type())).collect(),
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::FixedSizeList(f, _)
        | DataType::Map(f, _) => vec![anon(f.data_type())],
        DataType::RunEndEncoded(r, v) => vec![anon(r.data_type()), anon(v.data_type())],
        _ => Vec::new(),
    }
}

/// Checks an array's C struct against its type `dt`: counts, pointers and lengths arrow-rs's
/// import trusts. `at` names the array in messages.
fn check_array(a: &mut RawArray, dt: &DataType, at: &str) -> std::result::Result<(), String> {
    if a.length < 0 || a.offset < 0 {
        return Err(format!(
            "{at}: length {} and offset {} must not be negative",
            a.length, a.offset
        ));
    }
    // Every buffer of `length + offset` values must be addressable.
    let used = a
        .length
        .checked_add(a.offset)
        .filter(|u| *u <= i64::MAX / 32)
        .ok_or_else(|| {
            format!(
                "{at}: length {} and offset {} are too large",
                a.length, a.offset
            )
        })?;
    if a.null_count < -1 || a.null_count > a.length {
        return Err(format!(
            "{at}: null count {} for {} values",
            a.null_count, a.length
        ));
    }
    if matches!(dt, DataType::Null) && a.n_buffers == 1 {
        // polars gives null arrays a validity slot the format does not have: ignored.
        a.n_buffers = 0;
    }
    let layout = arrow_data::layout(dt);
    let nulls = usize::from(layout.can_contain_null_mask);
    let want = layout.buffers.len() + nulls;
    let n = usize::try_from(a.n_buffers).unwrap_or(usize::MAX);
    // Views: validity, views, any number of data buffers, then the data buffers' lengths.
    let ok = if layout.variadic {
        a.n_buffers > want as i64
    } else {
        n == want
    };
    if !ok {
        return Err(format!(
            "{at}: {} buffers for {}, which has {}{want}",
            a.n_buffers,
            shown(dt),
            if layout.variadic { "more than " } else { "" }
        ));
    }
    if n > 0 && a.buffers.is_null() {
        return Err(format!("{at}: its buffers are missing (a null pointer)"));
    }
    // SAFETY: `buffers` holds `n_buffers` pointers.
    let buffer = |i: usize| unsafe { a.buffers.add(i).read_unaligned() };
    let variadic = if layout.variadic { n - want - 1 } else { 0 };
    if variadic > 0 {
        let lengths = buffer(n - 1) as *const i64;
        if lengths.is_null() {
            return Err(format!("{at}: its data buffers' lengths are missing"));
        }
        for k in 0..variadic {
            // SAFETY: the last buffer of a view array holds one i64 per data buffer.
            let len = unsafe { lengths.add(k).read_unaligned() };
            if len < 0 || (len > 0 && buffer(want + k).is_null()) {
                return Err(format!(
                    "{at}: data buffer {k} of {len} bytes is missing or negative"
                ));
            }
        }
    }
    for i in 0..want {
        if !buffer(i).is_null() {
            continue;
        }
        if i == 0 && nulls == 1 {
            if a.null_count > 0 {
                return Err(format!(
                    "{at}: {} nulls but no validity bitmap",
                    a.null_count
                ));
            }
        } else if used > 0 {
            return Err(format!("{at}: buffer {i} is missing (a null pointer)"));
        }
    }
    let kids = children_of(dt);
    if a.n_children != kids.len() as i64 {
        return Err(format!(
            "{at}: {} children for {}, which has {}",
            a.n_children,
            shown(dt),
            kids.len()
        ));
    }
    if !kids.is_empty() && a.children.is_null() {
        return Err(format!("{at}: its children are missing (a null pointer)"));
    }
    for (i, (name, kt)) in kids.into_iter().enumerate() {
        // SAFETY: `children` holds `n_children` pointers (checked above).
        let c = unsafe { a.children.add(i).read_unaligned() };
        if c.is_null() {
            return Err(format!("{at}: child {i} is missing (a null pointer)"));
        }
        // SAFETY: a non-null child pointer of a live array, ours with its parent.
        let name = if name.is_empty() {
            format!("child {i}")
        } else {
            name
        };
        check_array(
            unsafe { &mut *(c as *mut RawArray) },
            kt,
            &format!("{at}, {name}"),
        )?;
    }
    match (dt, a.dictionary.is_null()) {
        (DataType::Dictionary(_, v), false) => {
            // SAFETY: a non-null dictionary pointer of a live array, ours with its parent.
            check_array(
                unsafe { &mut *(a.dictionary as *mut RawArray) },
                v,
                &format!("{at}, dictionary"),
            )
        }
        (DataType::Dictionary(..), true) => Err(format!("{at}: its dictionary is missing")),
        (_, false) => Err(format!(
            "{at}: a dictionary for {}, which has none",
            shown(dt)
        )),
        (_, true) => Ok(()),
    }
}

/// The Arrow extension type of a field (pandas' `Period`, `Interval`, ...), from the
/// metadata the C data interface carries it in.
const EXTENSION: &str = "ARROW:extension:name";

/// How a column is read, from its field: an extension type is read only when its
/// storage is text (a pandas `Period` is stored as integer ordinals, which are not the
/// numbers it shows); `Err` names an unread type for messages.
fn readable_field(f: &Field) -> std::result::Result<(), String> {
    match f.metadata().get(EXTENSION) {
        Some(name) if !textual(f.data_type()) => {
            let pandas = match name.as_str() {
                "pandas.period" => " (a pandas Period)",
                "pandas.interval" => " (a pandas Interval)",
                _ => "",
            };
            Err(format!("of Arrow extension type {name}{pandas}"))
        }
        _ => readable(f.data_type()),
    }
}

/// How a column is read, from its Arrow type; `Err` names an unread type for messages.
fn readable(dt: &DataType) -> std::result::Result<(), String> {
    use DataType::*;
    match dt {
        Null | Boolean | Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64
        | Float16 | Float32 | Float64 | Decimal32(..) | Decimal64(..) | Decimal128(..)
        | Decimal256(..) | Utf8 | LargeUtf8 | Utf8View | Binary | LargeBinary | BinaryView => {
            Ok(())
        }
        Dictionary(_, v) if !matches!(**v, Dictionary(..)) => readable(v),
        Dictionary(..) => Err("an Arrow dictionary of dictionaries".into()),
        t => Err(format!("of Arrow type {t}")),
    }
}

fn float(x: f64) -> Val<'static> {
    if x.is_nan() {
        Val::Null
    } else {
        Val::Num(x)
    }
}

/// Hands each value of `col` to `f` with its row in the batch (from 0), as the value the
/// table builder reads: one loop per Arrow type, so the call inlines in each.
fn each_val<'a>(col: &'a dyn Array, mut f: impl FnMut(usize, Val<'a>) -> Result<()>) -> Result<()> {
    // `|a, i| value`: the typed array `a` and the row `i` of a non-null value.
    macro_rules! each {
        ($arr:expr, |$a:ident, $i:ident| $v:expr) => {{
            let $a = $arr;
            for $i in 0..$a.len() {
                let v = if $a.is_null($i) { Val::Null } else { $v };
                f($i, v)?;
            }
        }};
    }
    macro_rules! prim {
        ($t:ty, |$x:ident| $v:expr) => {
            each!(col.as_primitive::<$t>(), |a, i| {
                let $x = a.value(i);
                $v
            })
        };
    }
    use DataType::*;
    match col.data_type() {
        Null => {
            for i in 0..col.len() {
                f(i, Val::Null)?;
            }
        }
        Boolean => each!(col.as_boolean(), |a, i| Val::Other(if a.value(i) {
            "true"
        } else {
            "false"
        })),
        Int8 => prim!(Int8Type, |x| Val::Int(x as i64)),
        Int16 => prim!(Int16Type, |x| Val::Int(x as i64)),
        Int32 => prim!(Int32Type, |x| Val::Int(x as i64)),
        Int64 => prim!(Int64Type, |x| Val::Int(x)),
        UInt8 => prim!(UInt8Type, |x| Val::Int(x as i64)),
        UInt16 => prim!(UInt16Type, |x| Val::Int(x as i64)),
        UInt32 => prim!(UInt32Type, |x| Val::Int(x as i64)),
        UInt64 => prim!(UInt64Type, |x| match i64::try_from(x) {
            Ok(v) => Val::Int(v),
            Err(_) => Val::UInt(x),
        }),
        Float16 => prim!(Float16Type, |x| float(f64::from(x))),
        Float32 => prim!(Float32Type, |x| float(x as f64)),
        Float64 => prim!(Float64Type, |x| float(x)),
        Decimal32(_, s) => prim!(Decimal32Type, |x| Val::Num(decimal(x as i128, *s as i32))),
        Decimal64(_, s) => prim!(Decimal64Type, |x| Val::Num(decimal(x as i128, *s as i32))),
        Decimal128(_, s) => prim!(Decimal128Type, |x| Val::Num(decimal(x, *s as i32))),
        Decimal256(_, s) => prim!(Decimal256Type, |x| Val::Num(match x.to_i128() {
            Some(v) => decimal(v, *s as i32),
            // Beyond 38 digits: the double of the decimal text (infinity past f64's range,
            // which the builder refuses like every other infinity).
            None => format!("{x}e{}", -(*s as i32))
                .parse()
                .unwrap_or(f64::INFINITY),
        })),
        Utf8 => each!(col.as_string::<i32>(), |a, i| Val::Text(
            a.value(i).as_bytes()
        )),
        LargeUtf8 => each!(col.as_string::<i64>(), |a, i| Val::Text(
            a.value(i).as_bytes()
        )),
        Utf8View => each!(col.as_string_view(), |a, i| Val::Text(
            a.value(i).as_bytes()
        )),
        Binary => each!(col.as_binary::<i32>(), |a, i| Val::Text(a.value(i))),
        LargeBinary => each!(col.as_binary::<i64>(), |a, i| Val::Text(a.value(i))),
        BinaryView => each!(col.as_binary_view(), |a, i| Val::Text(a.value(i))),
        // A pandas `category`, a polars `Categorical`: each row reads as its value.
        Dictionary(..) => {
            let d = col.as_any_dictionary();
            let vals = vals_of(d.values().as_ref())?;
            if vals.is_empty() {
                for i in 0..col.len() {
                    f(i, Val::Null)?;
                }
            } else {
                for (i, k) in d.normalized_keys().into_iter().enumerate() {
                    f(i, if col.is_null(i) { Val::Null } else { vals[k] })?;
                }
            }
        }
        // `readable` decides which columns reach here.
        _ => {}
    }
    Ok(())
}

/// Every value of `col` (a dictionary's values), in order.
fn vals_of(col: &dyn Array) -> Result<Vec<Val<'_>>> {
    let mut vals = Vec::with_capacity(col.len());
    each_val(col, |_, v| {
        vals.push(v);
        Ok(())
    })?;
    Ok(vals)
}

/// Rows between two calls of the read's [`Poll`] within one column of a batch: a few
/// milliseconds of work, so Ctrl-C is seen at once even in a single batch of millions.
const POLL_ROWS: usize = 1 << 16;

/// Called between batches and every [`POLL_ROWS`] rows of a column; an error stops the
/// read (the caller checks for Ctrl-C there: the read runs on Python's main thread,
/// where the stream's producer may be Python code).
pub type Poll<'a> = &'a (dyn Fn() -> Result<()> + Sync);

/// A read that nothing stops.
pub fn no_poll() -> Result<()> {
    Ok(())
}

/// Pushes the values of column `j` of one batch, rows from `row0 + 1`.
fn push_column(
    b: &mut TableBuilder,
    j: usize,
    row0: u64,
    col: &dyn Array,
    poll: Poll<'_>,
) -> Result<()> {
    each_val(col, |i, v| {
        if i % POLL_ROWS == POLL_ROWS - 1 {
            poll()?;
        }
        b.push(j, row0 + i as u64 + 1, v)
    })
}

/// Whether a column of this type can be a text column whose categories the profile
/// shows: the types whose values are written as text (strings, booleans) and
/// dictionaries of them.
fn textual(dt: &DataType) -> bool {
    use DataType::*;
    match dt {
        Boolean | Utf8 | LargeUtf8 | Utf8View | Binary | LargeBinary | BinaryView => true,
        Dictionary(_, v) => textual(v),
        _ => false,
    }
}

/// Feeds each cell of a text column to its category tracker, as a CSV file would hold it
/// (a null is an empty cell).
fn track(t: &mut Tracker, col: &dyn Array) -> Result<()> {
    each_val(col, |_, v| {
        match v {
            Val::Text(b) => t.push(b),
            Val::Other(o) => t.push(o.as_bytes()),
            _ => t.push(b""),
        }
        Ok(())
    })
}

/// Reads every batch of `stream` into a table with `spec`, errors naming `source`. A
/// panic of the import (a malformation the checks above do not foresee) is an input
/// error too, never an exception outside `CardsegError`.
pub fn read_table(stream: Stream, source: &str, spec: &ReadSpec, poll: Poll<'_>) -> Result<Table> {
    read_with_categories(stream, source, spec, false, poll).map(|(t, _)| t)
}

/// [`read_table`], and with `categories` the category codes of every text column (the
/// CSV reader's second pass for `cardseg run`, here in the same pass), so a frame's text,
/// boolean and categorical columns are profiled as the same values in a CSV file are.
pub fn read_with_categories(
    stream: Stream,
    source: &str,
    spec: &ReadSpec,
    categories: bool,
    poll: Poll<'_>,
) -> Result<(Table, Vec<TextCategories>)> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read_all(stream, source, spec, categories, poll)
    }))
    .unwrap_or_else(|_| Err(malformed(source, "arrow-rs could not import it")))
}

fn read_all(
    mut stream: Stream,
    source: &str,
    spec: &ReadSpec,
    categories: bool,
    poll: Poll<'_>,
) -> Result<(Table, Vec<TextCategories>)> {
    cardseg::ingest::check_spec(spec)?;
    let fields = stream.schema(source)?;
    let names = fields.iter().map(|f| f.name().clone()).collect();
    let mut b = TableBuilder::new(
        source,
        names,
        spec,
        // The DataFrame is in memory already: its width costs nothing more here.
        &cardseg::ingest::Limits {
            max_columns: usize::MAX,
            ..Default::default()
        },
    )?;
    let mut read = Vec::with_capacity(fields.len());
    for (j, f) in fields.iter().enumerate() {
        match readable_field(f) {
            Ok(()) => read.push(true),
            Err(what) => {
                b.unsupported(j, &what)?;
                read.push(false);
            }
        }
    }
    let mut trackers: Vec<Option<Tracker>> = fields
        .iter()
        .enumerate()
        .map(|(j, f)| {
            (categories && read[j] && !b.is_id(j) && textual(f.data_type()))
                .then(|| Tracker::new(f.name()))
        })
        .collect();
    let mut row0 = 0u64;
    let mut n_batch = 0u64;
    loop {
        poll()?;
        let Some(batch) = stream.next(source, &fields, n_batch + 1)? else {
            break;
        };
        n_batch += 1;
        let n = batch.len();
        if n == 0 {
            continue;
        }
        if let Some(nulls) = batch.nulls().filter(|m| m.null_count() > 0) {
            let i = (0..n).find(|i| nulls.is_null(*i)).unwrap_or(0);
            return Err(bad(
                source,
                &format!(
                    "row {} is a null record (the whole row is missing, not its values); \
                     drop such rows or give each column its own nulls",
                    row0 + i as u64 + 1
                ),
            ));
        }
        b.reserve(n);
        for (j, col) in batch.columns().iter().enumerate() {
            if read[j] && b.wanted(j) {
                push_column(&mut b, j, row0, col.as_ref(), poll)?;
            }
            if let Some(t) = trackers[j].as_mut().filter(|t| t.alive()) {
                track(t, col.as_ref())?;
            }
        }
        b.end_rows(n as u64);
        row0 += n as u64;
    }
    let mut table = b.finish()?;
    let text: Vec<TextCategories> = trackers
        .into_iter()
        .zip(&table.info)
        .filter(|(_, i)| i.kind == ColumnKind::Text)
        .filter_map(|(t, _)| t?.finish())
        .collect();
    // `Table::columns` is documented in header order, and the CSV reader keeps it; the
    // builder puts required columns first. Header order makes every output (the profile's
    // columns) the same as the CLI's on the same data in CSV.
    let info = &table.info;
    table
        .columns
        .sort_by_key(|c| info.iter().position(|i| i.name == c.name));
    Ok((table, text))
}
