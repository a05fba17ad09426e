"""Malformed Arrow C streams for test_arrow_hostile.py (run in a child interpreter, so a
crash is seen as the child's death, never as a dead pytest).

A case is a small random table (pyarrow exports it into the C structs of the Arrow C data
interface), deep-copied into ctypes structs we own and then broken: wrong child and buffer
counts, null pointers, negative or inconsistent lengths, offsets and null counts, random
offsets and bytes in string columns, random validity bitmaps, other types in the schema,
batches of another table, errors from the stream's callbacks. Each case is fed to
``Model.predict`` or ``cardseg.run`` through ``__arrow_c_stream__``; the answer must be a
``cardseg.CardsegError`` or a result (for unbroken cases: the result of the same table
passed by pyarrow).

The C data interface carries no buffer sizes: a consumer must believe the lengths a
producer declares. The breakages are therefore ones a consumer can detect — counts that
disagree with the schema, pointers that are null, values out of range, buffers whose
declared content is inconsistent — and never a buffer smaller than its declared length
(reading past its end would be the producer's fault, and no consumer can see it).
"""
import ctypes as C
import random
import sys

import pyarrow as pa

KEEP = []  # everything C code may still point to: never freed in this short-lived process
PAD = 8  # extra null entries after every pointer array, so a count raised by a case reads nulls


class ArrowSchema(C.Structure):
    _fields_ = [
        ("format", C.c_void_p),
        ("name", C.c_void_p),
        ("metadata", C.c_void_p),
        ("flags", C.c_int64),
        ("n_children", C.c_int64),
        ("children", C.c_void_p),
        ("dictionary", C.c_void_p),
        ("release", C.c_void_p),
        ("private_data", C.c_void_p),
    ]


class ArrowArray(C.Structure):
    _fields_ = [
        ("length", C.c_int64),
        ("null_count", C.c_int64),
        ("offset", C.c_int64),
        ("n_buffers", C.c_int64),
        ("n_children", C.c_int64),
        ("buffers", C.c_void_p),
        ("children", C.c_void_p),
        ("dictionary", C.c_void_p),
        ("release", C.c_void_p),
        ("private_data", C.c_void_p),
    ]


class ArrowArrayStream(C.Structure):
    _fields_ = [
        ("get_schema", C.c_void_p),
        ("get_next", C.c_void_p),
        ("get_last_error", C.c_void_p),
        ("release", C.c_void_p),
        ("private_data", C.c_void_p),
    ]


Release = C.CFUNCTYPE(None, C.c_void_p)
GetSchema = C.CFUNCTYPE(C.c_int, C.c_void_p, C.c_void_p)
GetNext = C.CFUNCTYPE(C.c_int, C.c_void_p, C.c_void_p)
GetLastError = C.CFUNCTYPE(C.c_void_p, C.c_void_p)


def _releaser(struct):
    off = struct.release.offset

    def release(ptr):
        C.c_void_p.from_address(ptr + off).value = None

    cb = Release(release)
    KEEP.append(cb)
    return C.cast(cb, C.c_void_p).value


RELEASE_SCHEMA = _releaser(ArrowSchema)
RELEASE_ARRAY = _releaser(ArrowArray)
RELEASE_STREAM = _releaser(ArrowArrayStream)

_capsule_new = C.pythonapi.PyCapsule_New
_capsule_new.restype = C.py_object
_capsule_new.argtypes = [C.c_void_p, C.c_void_p, C.c_void_p]
CAPSULE_NAME = C.create_string_buffer(b"arrow_array_stream")


def ptr_array(values):
    arr = (C.c_void_p * (len(values) + PAD))(*values)
    KEEP.append(arr)
    return arr


def cbytes(b):
    buf = C.create_string_buffer(b, len(b) + 64)
    KEEP.append(buf)
    return C.addressof(buf)


class Node:
    """Our copy of one C struct (array or schema) and its pointer arrays."""

    def __init__(self, struct, type_, kids, kidptrs, bufs=None, dictionary=None):
        self.struct, self.type, self.kids, self.kidptrs = struct, type_, kids, kidptrs
        self.bufs, self.dictionary = bufs, dictionary

    def nodes(self):
        yield self
        for k in self.kids:
            yield from k.nodes()


def _read_ptrs(addr, n):
    return [C.c_void_p.from_address(addr + 8 * i).value for i in range(n)] if n > 0 and addr else []


def copy_schema(addr):
    src = ArrowSchema.from_address(addr)
    dst = ArrowSchema()
    C.memmove(C.addressof(dst), addr, C.sizeof(ArrowSchema))
    kids = [copy_schema(p) for p in _read_ptrs(src.children, src.n_children)]
    kidptrs = ptr_array([C.addressof(k.struct) for k in kids])
    dst.children = C.addressof(kidptrs)
    dst.release = RELEASE_SCHEMA
    KEEP.append(dst)
    return Node(dst, None, kids, kidptrs)


def copy_array(addr, type_):
    src = ArrowArray.from_address(addr)
    dst = ArrowArray()
    C.memmove(C.addressof(dst), addr, C.sizeof(ArrowArray))
    bufs = ptr_array(_read_ptrs(src.buffers, src.n_buffers))
    dst.buffers = C.addressof(bufs)
    child_types = [type_.field(i).type for i in range(type_.num_fields)] if pa.types.is_struct(type_) else []
    kids = [copy_array(p, t) for p, t in zip(_read_ptrs(src.children, src.n_children), child_types)]
    kidptrs = ptr_array([C.addressof(k.struct) for k in kids])
    dst.children = C.addressof(kidptrs)
    dst.release = RELEASE_ARRAY
    KEEP.append(dst)
    return Node(dst, type_, kids, kidptrs, bufs)


def export_schema(schema):
    s = ArrowSchema()
    KEEP.append(s)
    schema._export_to_c(C.addressof(s))
    return copy_schema(C.addressof(s))


def export_batch(batch):
    a = ArrowArray()
    KEEP.append(a)
    batch._export_to_c(C.addressof(a))
    return copy_array(C.addressof(a), pa.struct(list(batch.schema)))


class Stream:
    """An Arrow C stream over our structs, exposed through ``__arrow_c_stream__``."""

    def __init__(self, schema, batches, schema_error=False, error_at=None):
        self.schema, self.batches = schema, batches
        self.schema_error, self.error_at, self.i = schema_error, error_at, 0
        self.msg = C.create_string_buffer(b"the producer failed on purpose")
        cbs = [GetSchema(self._get_schema), GetNext(self._get_next), GetLastError(self._last_error)]
        KEEP.extend(cbs)
        self.s = ArrowArrayStream(*[C.cast(c, C.c_void_p).value for c in cbs], RELEASE_STREAM, None)
        KEEP.append(self)

    def _get_schema(self, stream, out):
        if self.schema_error:
            return 5
        C.memmove(out, C.addressof(self.schema.struct), C.sizeof(ArrowSchema))
        return 0

    def _get_next(self, stream, out):
        if self.error_at == self.i:
            return 5
        if self.i >= len(self.batches):
            C.memset(out, 0, C.sizeof(ArrowArray))
            return 0
        C.memmove(out, C.addressof(self.batches[self.i].struct), C.sizeof(ArrowArray))
        self.i += 1
        return 0

    def _last_error(self, stream):
        return C.addressof(self.msg)

    def __arrow_c_stream__(self, requested_schema=None):
        return _capsule_new(C.addressof(self.s), C.addressof(CAPSULE_NAME), None)


# ---- random tables -------------------------------------------------------------------

FEATURES = ["BALANCE", "PURCHASES", "CREDIT_LIMIT"]
NUMBER_TYPES = [pa.float64(), pa.int64(), pa.float32(), pa.int32(), pa.decimal128(12, 2)]
ID_TYPES = [pa.string(), pa.large_string(), pa.string_view(), pa.int64(), pa.binary()]


def random_column(rng, t, n):
    def maybe_null(v):
        return None if rng.random() < 0.15 else v

    if pa.types.is_decimal(t):
        import decimal

        vals = [maybe_null(decimal.Decimal(rng.randint(0, 10**6)) / 100) for _ in range(n)]
    elif pa.types.is_floating(t):
        vals = [maybe_null(rng.uniform(0, 5000)) for _ in range(n)]
    elif pa.types.is_integer(t):
        vals = [maybe_null(rng.randint(0, 5000)) for _ in range(n)]
    elif pa.types.is_boolean(t):
        vals = [maybe_null(rng.random() < 0.5) for _ in range(n)]
    elif pa.types.is_binary(t):
        vals = [f"c{rng.randint(0, 99999)}".encode() for _ in range(n)]
    else:
        vals = [maybe_null(f"c{rng.randint(0, 99999)}") if rng.random() < 0.9 else "é€" for _ in range(n)]
    return pa.array(vals, type=t)


def random_table(rng, n_cols=None):
    names = ["CUST_ID"] + FEATURES + (["NOTE"] if rng.random() < 0.5 else [])
    types = [rng.choice(ID_TYPES)] + [rng.choice(NUMBER_TYPES) for _ in FEATURES]
    if len(names) > 4:
        types.append(rng.choice([pa.string(), pa.float64(), pa.bool_()]))
    if n_cols is not None:
        names = [f"X{i}" if i >= len(names) else names[i] for i in range(n_cols)]
        types = [types[i] if i < len(types) else rng.choice(NUMBER_TYPES) for i in range(n_cols)]
    schema = pa.schema(list(zip(names, types)))
    batches = []
    for _ in range(rng.randint(1, 3)):
        n = rng.randint(0, 12)
        batches.append(pa.RecordBatch.from_arrays([random_column(rng, t, n) for t in types], schema=schema))
    return schema, batches


# ---- breakages -----------------------------------------------------------------------

# Formats a column's type may be replaced by: each either needs no more bytes per value
# than the original type's buffers hold, or has another number of buffers (detectable).
SAFE_FORMATS = {
    "l": ["g", "L", "i", "s", "c", "f", "b", "tdD", "d:18,2,64", "u", "U", "n", "+s", "zzz", "", "w:8"],
    "g": ["l", "L", "i", "f", "b", "tdD", "u", "z", "n", "zzz", "+l"],
    "f": ["i", "I", "s", "b", "tdD", "u", "n", "zzz"],
    "i": ["f", "I", "s", "c", "b", "tdD", "u", "n", "zzz"],
    "d:12,2": ["d:12,3", "d:38,2", "w:16", "g", "l", "u", "n", "zzz"],
    "u": ["z", "l", "g", "b", "n", "+s", "zzz"],
    "z": ["u", "l", "n", "zzz"],
    "U": ["Z", "u", "l", "n", "zzz"],
    "vu": ["vz", "l", "g", "n", "zzz"],
    "b": ["c", "n", "zzz", "u"],
}


# Nested and malformed formats, for any column: the schema's or the batch's child counts
# disagree with them, or they do not parse.
ANY_FORMATS = ["+l", "+L", "+vl", "+m", "+r", "+w:2", "+ud:0,1", "+us:0", "d:x", "w:", "+s", "n"]


def _format(node):
    return C.string_at(node.struct.format).decode() if node.struct.format else None


def leaves(case):
    return [(b, i, k) for b in case["batches"] for i, k in enumerate(b.kids)]


def m_struct_children(rng, case):
    top = rng.choice(case["batches"]).struct
    top.n_children = rng.choice([-1, 0, top.n_children - 1, top.n_children + 1, 2**40])


def m_leaf_buffers(rng, case):
    _, _, leaf = rng.choice(leaves(case))
    n = leaf.struct.n_buffers
    choices = [-1, 0, n - 1, n + 1, n + 2]
    if not pa.types.is_string_view(leaf.type):
        choices.append(2**40)
    leaf.struct.n_buffers = rng.choice(choices)


def m_buffers_null(rng, case):
    node = rng.choice([n for b in case["batches"] for n in b.nodes()])
    node.struct.buffers = None


def m_buffer_null(rng, case):
    _, _, leaf = rng.choice(leaves(case))
    n = min(leaf.struct.n_buffers, len(leaf.bufs) - PAD)
    if n > 0:
        leaf.bufs[rng.randrange(n)] = None


def m_child_null(rng, case):
    top = rng.choice(case["batches"])
    if top.kids:
        top.kidptrs[rng.randrange(len(top.kids))] = None


def m_top_length(rng, case):
    top = rng.choice(case["batches"]).struct
    n = top.length
    top.length = rng.choice([-1, -(2**62), n + 1, n + 7, 2**62, 0, max(0, n - 1)])


def m_top_offset(rng, case):
    top = rng.choice(case["batches"]).struct
    top.offset = rng.choice([-1, 1, 3, 2**62, -(2**62)])


def m_leaf_out_of_range(rng, case):
    _, _, leaf = rng.choice(leaves(case))
    setattr(leaf.struct, rng.choice(["length", "offset"]), rng.choice([-1, -(2**62), 2**62]))


def m_leaf_shorter(rng, case):
    _, _, leaf = rng.choice(leaves(case))
    if leaf.struct.length > 0:
        if rng.random() < 0.5:
            leaf.struct.length -= rng.randint(1, leaf.struct.length)
        else:
            leaf.struct.offset += 1
            leaf.struct.length -= 1


def m_null_count(rng, case):
    node = rng.choice([n for b in case["batches"] for n in b.nodes()])
    n = node.struct.length
    node.struct.null_count = rng.choice([-2, -1, n + 1, 0, 1, n, -(2**62)])


def m_validity(rng, case):
    _, _, leaf = rng.choice(leaves(case))
    used = leaf.struct.length + leaf.struct.offset
    if leaf.struct.n_buffers >= 2 and 0 <= used < 10_000:
        size = (used + 7) // 8
        leaf.bufs[0] = cbytes(bytes(rng.randrange(256) for _ in range(size)))
        leaf.struct.null_count = rng.choice([-1, rng.randint(0, max(0, leaf.struct.length))])


def m_dictionary(rng, case):
    (_, _, a), (_, _, b) = rng.choice(leaves(case)), rng.choice(leaves(case))
    a.struct.dictionary = C.addressof(b.struct)


def m_offsets(rng, case):
    """Random offsets and bytes in a string or binary column (buffers as large as declared)."""
    cands = [
        (b, i, k)
        for b, i, k in leaves(case)
        if pa.types.is_string(k.type) or pa.types.is_large_string(k.type) or pa.types.is_binary(k.type)
    ]
    if not cands:
        return
    _, _, leaf = rng.choice(cands)
    n = leaf.struct.length + leaf.struct.offset
    if not 0 <= n < 10_000 or len(leaf.bufs) - PAD < 3:
        return
    size = rng.randint(0, 40)
    offs = sorted(rng.randint(0, size) for _ in range(n + 1))
    for _ in range(rng.randint(0, 3)):
        k = rng.randint(0, n)
        if k < n:
            offs[k] = rng.choice([-1, -(2**31), size + 1, rng.randint(0, size), 2**31 - 1])
        else:
            # The last offset declares the data buffer's size: never more than it holds.
            offs[k] = rng.choice([-1, -(2**31), rng.randint(0, size)])
    wide = pa.types.is_large_string(leaf.type)
    ctype = C.c_int64 if wide else C.c_int32
    lim = 2**63 - 1 if wide else 2**31 - 1
    offs = [max(-lim - 1, min(lim, o)) for o in offs]
    arr = (ctype * (n + 1 + PAD))(*offs)
    KEEP.append(arr)
    leaf.bufs[1] = C.addressof(arr)
    # The data buffer holds as many bytes as the last offset declares (or more).
    data_len = size
    raw = bytes(rng.choice(b"abc123\xc3\xa9\xff\x80") for _ in range(data_len))
    leaf.bufs[2] = cbytes(raw)
    if leaf.struct.n_buffers > 0 and rng.random() < 0.5:
        leaf.bufs[0] = None
        leaf.struct.null_count = 0


def m_format(rng, case):
    schema = case["schema"]
    j = rng.randrange(len(schema.kids))
    kid = schema.kids[j]
    old = _format(kid)
    new = rng.choice(SAFE_FORMATS.get(old, ["zzz"]) + ANY_FORMATS)
    kid.struct.format = cbytes(new.encode())


def m_format_null(rng, case):
    rng.choice(case["schema"].kids).struct.format = None


def m_schema_children(rng, case):
    s = case["schema"].struct
    s.n_children = rng.choice([-1, 0, s.n_children - 1, s.n_children + 1])


def m_schema_child_null(rng, case):
    case["schema"].kidptrs[rng.randrange(len(case["schema"].kids))] = None


def m_schema_name(rng, case):
    rng.choice(case["schema"].kids).struct.name = cbytes(b"\xff\xfe")


def m_other_batch(rng, case):
    """A batch of another table with another number of columns (the stream's schema does
    not describe it): RecordBatchReader.from_batches does not check this."""
    n_cols = len(case["schema"].kids)
    other = rng.choice([k for k in range(1, 7) if k != n_cols])
    _, batches = random_table(rng, n_cols=other)
    i = rng.randrange(len(case["batches"]))
    case["batches"][i] = export_batch(batches[0])


def m_stream_error(rng, case):
    if rng.random() < 0.3:
        case["schema_error"] = True
    else:
        case["error_at"] = rng.randrange(len(case["batches"]) + 1)


BREAKAGES = [
    m_struct_children,
    m_leaf_buffers,
    m_buffers_null,
    m_buffer_null,
    m_child_null,
    m_top_length,
    m_top_offset,
    m_leaf_out_of_range,
    m_leaf_shorter,
    m_null_count,
    m_validity,
    m_dictionary,
    m_offsets,
    m_format,
    m_format_null,
    m_schema_children,
    m_schema_child_null,
    m_schema_name,
    m_other_batch,
    m_stream_error,
]


def main(model_path, seed, n_cases, runs_every=8):
    import cardseg

    model = cardseg.Model.load(model_path)
    rng = random.Random(seed)
    counts = {"refused": 0, "answered": 0, "control": 0}
    for i in range(n_cases):
        schema, batches = random_table(rng)
        case = {
            "schema": export_schema(schema),
            "batches": [export_batch(b) for b in batches],
            "schema_error": False,
            "error_at": None,
        }
        control = rng.random() < 0.15
        names = []
        if not control:
            for m in rng.sample(BREAKAGES, rng.randint(1, 2)):
                names.append(m.__name__)
                m(rng, case)
        stream = Stream(case["schema"], case["batches"], case["schema_error"], case["error_at"])
        use_run = i % runs_every == runs_every - 1
        label = f"case {i} ({'run' if use_run else 'predict'}: {', '.join(names) or 'unbroken'})"
        try:
            if use_run:
                got = cardseg.run(stream, profile_features=[], k=2, n_init=1, dashboard=False)
            else:
                got = model.predict(stream)
        except cardseg.CardsegError as e:
            counts["refused"] += 1
            print(f"{label}: refused {type(e).__name__}: {e}")
            continue
        except BaseException as e:  # a PanicException or any non-cardseg error fails the test
            print(f"{label}: NOT A CARDSEG ERROR {type(e).__module__}.{type(e).__name__}: {e}")
            continue
        counts["answered"] += 1
        if control and not use_run:
            want = model.predict(pa.Table.from_batches(batches, schema))
            if not got.equals(want):
                print(f"{label}: WRONG ANSWER\n{got}\n{want}")
                continue
            counts["control"] += 1
        print(f"{label}: answered")
    print("COUNTS", counts["refused"], counts["answered"], counts["control"])
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
