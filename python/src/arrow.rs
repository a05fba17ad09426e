//! Reads an Arrow C stream (`__arrow_c_stream__`, the PyCapsule interface pandas-via-pyarrow,
//! pyarrow and polars all export) into a [`Table`] through the library's
//! [`TableBuilder`], so a DataFrame is read by exactly the rules of the CSV, Parquet and
//! database readers: the id column becomes text, required columns must be numbers (an
//! error names the row, column and value), nulls are missing values.
//!
//! Hand-written instead of arrow-rs (which would add minutes of compile time on two cores):
//! only the C structs of the Arrow C data interface and the column types a customer table
//! holds are read — integers, floats, booleans, UTF-8 strings (32- and 64-bit offsets, and
//! string views, which polars exports) and binary. Floating-point NaN is a missing value
//! (pandas and polars users mark missing numbers with it); infinity is an error, as in
//! every other source. Other types (dates, decimals, nested, dictionary-encoded) are text
//! columns when optional and an error when a required column or the id has them.
//!
//! Numbers are read straight from the Arrow buffers (no Python object per value).

use std::ffi::{c_char, c_int, c_void, CStr};

use cardseg::error::{Error, Result};
use cardseg::ingest::builder::{TableBuilder, Val};
use cardseg::ingest::ReadSpec;
use cardseg::table::Table;

/// `struct ArrowSchema` of the Arrow C data interface.
#[repr(C)]
pub struct FfiSchema {
    format: *const c_char,
    name: *const c_char,
    metadata: *const c_char,
    flags: i64,
    n_children: i64,
    children: *mut *mut FfiSchema,
    dictionary: *mut FfiSchema,
    release: Option<unsafe extern "C" fn(*mut FfiSchema)>,
    private_data: *mut c_void,
}

/// `struct ArrowArray` of the Arrow C data interface.
#[repr(C)]
pub struct FfiArray {
    length: i64,
    null_count: i64,
    offset: i64,
    n_buffers: i64,
    n_children: i64,
    buffers: *mut *const c_void,
    children: *mut *mut FfiArray,
    dictionary: *mut FfiArray,
    release: Option<unsafe extern "C" fn(*mut FfiArray)>,
    private_data: *mut c_void,
}

/// `struct ArrowArrayStream` of the Arrow C stream interface.
#[repr(C)]
pub struct FfiStream {
    get_schema: Option<unsafe extern "C" fn(*mut FfiStream, *mut FfiSchema) -> c_int>,
    get_next: Option<unsafe extern "C" fn(*mut FfiStream, *mut FfiArray) -> c_int>,
    get_last_error: Option<unsafe extern "C" fn(*mut FfiStream) -> *const c_char>,
    release: Option<unsafe extern "C" fn(*mut FfiStream)>,
    private_data: *mut c_void,
}

impl FfiSchema {
    fn empty() -> Self {
        FfiSchema {
            format: std::ptr::null(),
            name: std::ptr::null(),
            metadata: std::ptr::null(),
            flags: 0,
            n_children: 0,
            children: std::ptr::null_mut(),
            dictionary: std::ptr::null_mut(),
            release: None,
            private_data: std::ptr::null_mut(),
        }
    }
}

impl Drop for FfiSchema {
    fn drop(&mut self) {
        if let Some(r) = self.release {
            // SAFETY: the producer's release callback, called once on a struct we own.
            unsafe { r(self) }
        }
    }
}

impl FfiArray {
    fn empty() -> Self {
        FfiArray {
            length: 0,
            null_count: 0,
            offset: 0,
            n_buffers: 0,
            n_children: 0,
            buffers: std::ptr::null_mut(),
            children: std::ptr::null_mut(),
            dictionary: std::ptr::null_mut(),
            release: None,
            private_data: std::ptr::null_mut(),
        }
    }
}

impl Drop for FfiArray {
    fn drop(&mut self) {
        if let Some(r) = self.release {
            // SAFETY: as for FfiSchema.
            unsafe { r(self) }
        }
    }
}

/// An Arrow C stream moved out of its capsule: ours to read and release.
pub struct Stream(FfiStream);

// SAFETY: the C stream interface lets a consumer use a stream from any one thread at a time.
unsafe impl Send for Stream {}

impl Stream {
    /// Takes the stream out of `ptr` (the capsule's pointer) and marks the original
    /// released, as the interface prescribes for a consumer that moves a stream.
    ///
    /// # Safety
    /// `ptr` must point to a live, unreleased `ArrowArrayStream`.
    pub unsafe fn take(ptr: *mut FfiStream) -> Stream {
        let s = std::ptr::read(ptr);
        (*ptr).release = None;
        Stream(s)
    }

    fn last_error(&mut self) -> String {
        match self.0.get_last_error {
            Some(f) => {
                // SAFETY: callback of a live stream; the string lives until the next call.
                let p = unsafe { f(&mut self.0) };
                if p.is_null() {
                    String::new()
                } else {
                    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
                }
            }
            None => String::new(),
        }
    }

    fn schema(&mut self, source: &str) -> Result<FfiSchema> {
        let mut s = FfiSchema::empty();
        let f = self
            .0
            .get_schema
            .ok_or_else(|| bad(source, "the Arrow stream has no schema"))?;
        // SAFETY: callback of a live stream writing into a struct we own.
        if unsafe { f(&mut self.0, &mut s) } != 0 {
            let e = self.last_error();
            return Err(bad(
                source,
                &format!("reading the Arrow schema failed: {e}"),
            ));
        }
        Ok(s)
    }

    fn next(&mut self, source: &str) -> Result<Option<FfiArray>> {
        let mut a = FfiArray::empty();
        let f = self
            .0
            .get_next
            .ok_or_else(|| bad(source, "the Arrow stream has no batches"))?;
        // SAFETY: as in `schema`.
        if unsafe { f(&mut self.0, &mut a) } != 0 {
            let e = self.last_error();
            return Err(bad(source, &format!("reading an Arrow batch failed: {e}")));
        }
        Ok(if a.release.is_none() { None } else { Some(a) })
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if let Some(r) = self.0.release {
            // SAFETY: we own the stream; release it once.
            unsafe { r(&mut self.0) }
        }
    }
}

fn bad(source: &str, msg: &str) -> Error {
    Error::input(source, msg.to_string())
}

fn cstr(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: the interface's strings are NUL-terminated and live with their schema.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

/// The column types read; anything else is `Unsupported` with a name for messages.
#[derive(Debug, Clone)]
enum Kind {
    F64,
    F32,
    I(u8),
    U(u8),
    Bool,
    Utf8,
    LargeUtf8,
    View,
    Unsupported(String),
}

fn kind_of(format: &str, dictionary: bool) -> Kind {
    if dictionary {
        return Kind::Unsupported("an Arrow dictionary (categorical) column".into());
    }
    match format {
        "g" => Kind::F64,
        "f" => Kind::F32,
        "c" => Kind::I(1),
        "s" => Kind::I(2),
        "i" => Kind::I(4),
        "l" => Kind::I(8),
        "C" => Kind::U(1),
        "S" => Kind::U(2),
        "I" => Kind::U(4),
        "L" => Kind::U(8),
        "b" => Kind::Bool,
        "u" | "z" => Kind::Utf8,
        "U" | "Z" => Kind::LargeUtf8,
        "vu" | "vz" => Kind::View,
        f => Kind::Unsupported(format!("of Arrow type {f:?}")),
    }
}

/// A column of one batch: its buffers, seen through the array's offset.
struct Col<'a> {
    arr: &'a FfiArray,
    kind: &'a Kind,
}

impl Col<'_> {
    fn buffer(&self, i: usize) -> *const u8 {
        // SAFETY: `i` < n_buffers for every kind read (checked by the caller's format).
        unsafe { *self.arr.buffers.add(i) as *const u8 }
    }
    fn valid(&self, i: usize) -> bool {
        let bits = self.buffer(0);
        if bits.is_null() || self.arr.null_count == 0 {
            return true;
        }
        let j = i + self.arr.offset as usize;
        // SAFETY: the validity bitmap holds offset + length bits.
        unsafe { (*bits.add(j / 8) >> (j % 8)) & 1 == 1 }
    }
    /// Value `i` (0-based within the batch).
    fn val(&self, i: usize) -> Val<'_> {
        if !self.valid(i) {
            return Val::Null;
        }
        let j = i + self.arr.offset as usize;
        let data = self.buffer(1);
        // SAFETY: each read stays inside the buffer sizes the Arrow format defines for
        // an array of offset + length values of this type.
        unsafe {
            match self.kind {
                Kind::F64 => {
                    let x = (data as *const f64).add(j).read_unaligned();
                    if x.is_nan() {
                        Val::Null
                    } else {
                        Val::Num(x)
                    }
                }
                Kind::F32 => {
                    let x = (data as *const f32).add(j).read_unaligned();
                    if x.is_nan() {
                        Val::Null
                    } else {
                        Val::Num(x as f64)
                    }
                }
                Kind::I(1) => Val::Int(*(data as *const i8).add(j) as i64),
                Kind::I(2) => Val::Int((data as *const i16).add(j).read_unaligned() as i64),
                Kind::I(4) => Val::Int((data as *const i32).add(j).read_unaligned() as i64),
                Kind::I(_) => Val::Int((data as *const i64).add(j).read_unaligned()),
                Kind::U(1) => Val::Int(*data.add(j) as i64),
                Kind::U(2) => Val::Int((data as *const u16).add(j).read_unaligned() as i64),
                Kind::U(4) => Val::Int((data as *const u32).add(j).read_unaligned() as i64),
                Kind::U(_) => {
                    let u = (data as *const u64).add(j).read_unaligned();
                    match i64::try_from(u) {
                        Ok(v) => Val::Int(v),
                        Err(_) => Val::UInt(u),
                    }
                }
                Kind::Bool => {
                    if (*data.add(j / 8) >> (j % 8)) & 1 == 1 {
                        Val::Other("true")
                    } else {
                        Val::Other("false")
                    }
                }
                Kind::Utf8 => {
                    let offs = data as *const i32;
                    let a = offs.add(j).read_unaligned() as usize;
                    let b = offs.add(j + 1).read_unaligned() as usize;
                    Val::Text(std::slice::from_raw_parts(self.buffer(2).add(a), b - a))
                }
                Kind::LargeUtf8 => {
                    let offs = data as *const i64;
                    let a = offs.add(j).read_unaligned() as usize;
                    let b = offs.add(j + 1).read_unaligned() as usize;
                    Val::Text(std::slice::from_raw_parts(self.buffer(2).add(a), b - a))
                }
                Kind::View => {
                    let view = data.add(j * 16);
                    let len = (view as *const i32).read_unaligned() as usize;
                    if len <= 12 {
                        Val::Text(std::slice::from_raw_parts(view.add(4), len))
                    } else {
                        let buf = (view.add(8) as *const i32).read_unaligned() as usize;
                        let off = (view.add(12) as *const i32).read_unaligned() as usize;
                        let base = self.buffer(2 + buf);
                        Val::Text(std::slice::from_raw_parts(base.add(off), len))
                    }
                }
                Kind::Unsupported(_) => Val::Null,
            }
        }
    }
}

/// Reads every batch of `stream` into a table with `spec`, errors naming `source`.
pub fn read_table(mut stream: Stream, source: &str, spec: &ReadSpec) -> Result<Table> {
    let schema = stream.schema(source)?;
    if cstr(schema.format) != "+s" {
        return Err(bad(
            source,
            "the Arrow stream is not a table (its type is not a struct of columns)",
        ));
    }
    let mut names = Vec::new();
    let mut kinds = Vec::new();
    for c in 0..schema.n_children as usize {
        // SAFETY: n_children valid child pointers.
        let child = unsafe { &**schema.children.add(c) };
        names.push(cstr(child.name));
        kinds.push(kind_of(&cstr(child.format), !child.dictionary.is_null()));
    }
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
    for (j, k) in kinds.iter().enumerate() {
        if let Kind::Unsupported(what) = k {
            b.unsupported(j, what)?;
        }
    }
    let mut row0 = 0u64;
    while let Some(batch) = stream.next(source)? {
        let n = batch.length as usize;
        if n == 0 {
            continue;
        }
        // A struct array's own offset shifts every child.
        let shift = batch.offset as usize;
        b.reserve(n);
        for (j, kind) in kinds.iter().enumerate() {
            if matches!(kind, Kind::Unsupported(_)) || !b.wanted(j) {
                continue;
            }
            // SAFETY: the batch has one child per schema field.
            let arr = unsafe { &**batch.children.add(j) };
            let col = Col { arr, kind };
            for i in 0..n {
                b.push(j, row0 + i as u64 + 1, col.val(shift + i))?;
            }
        }
        b.end_rows(n as u64);
        row0 += n as u64;
    }
    drop(schema);
    let mut table = b.finish()?;
    // `Table::columns` is documented in header order, and the CSV reader keeps it; the
    // builder puts required columns first. Header order makes every output (the profile's
    // columns) the same as the CLI's on the same data in CSV.
    let info = &table.info;
    table
        .columns
        .sort_by_key(|c| info.iter().position(|i| i.name == c.name));
    Ok(table)
}
