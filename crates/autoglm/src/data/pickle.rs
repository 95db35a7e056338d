//! A minimal reader for Python-2 pickles (protocol 2), as used by the raw
//! Planetoid files (`ind.<name>.{x,tx,allx,y,ty,ally,graph}`).
//!
//! The virtual machine covers exactly the opcodes those files use:
//! `PROTO GLOBAL BINPUT LONG_BINPUT BINGET MARK EMPTY_DICT EMPTY_LIST
//! EMPTY_TUPLE TUPLE TUPLE1 TUPLE2 TUPLE3 NEWOBJ REDUCE BUILD SETITEMS APPEND
//! APPENDS BININT BININT1 BININT2 SHORT_BINSTRING BINSTRING NEWTRUE NEWFALSE
//! NONE STOP`. Anything else is reported as an unknown opcode with its byte
//! offset. No Python code is ever run: `GLOBAL` only records a name, and
//! `REDUCE` / `NEWOBJ` / `BUILD` only record calls, which the decoders
//! ([`Pickle::to_ndarray`], [`Pickle::to_csr`], [`Pickle::to_adjacency`])
//! then interpret for three known shapes:
//!
//! * numpy arrays: `numpy.core.multiarray._reconstruct(ndarray, (0,), 'b')`
//!   with `BUILD` state `(1, shape, dtype, is_fortran, raw_bytes)`, where
//!   `dtype` is `numpy.dtype('i4' | 'f4' | ..., 0, 1)` with `BUILD` state
//!   `(3, '<', ...)`;
//! * scipy CSR matrices: `scipy.sparse.csr.csr_matrix` built by `NEWOBJ` with
//!   a `BUILD` dict holding `_shape`, `indptr`, `indices`, `data`;
//! * adjacency dicts: `collections.defaultdict(list)` filled by `SETITEMS`.
//!
//! Malformed input (truncation, bad lengths, wrong types) gives a
//! [`PickleError`], never a panic.

use crate::graph::CsrMatrix;
use std::collections::HashMap;

/// A stack value. Containers and strings live in the [`Pickle`]'s object
/// arena and are referred to by index, so that memoised objects mutated later
/// (by `BUILD`, `APPENDS`, `SETITEMS`) are seen through every reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// Python `None`.
    None,
    /// Python `True` / `False`.
    Bool(bool),
    /// A Python int.
    Int(i64),
    /// An object in the arena ([`Pickle::object`]).
    Ref(usize),
}

/// An object of the arena.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    /// A Python-2 byte string.
    Bytes(Vec<u8>),
    /// A tuple.
    Tuple(Vec<Value>),
    /// A list.
    List(Vec<Value>),
    /// A dict, as `(key, value)` pairs in insertion order.
    Dict(Vec<(Value, Value)>),
    /// A `module.name` reference pushed by `GLOBAL`.
    Global { module: String, name: String },
    /// The recorded result of `callable(*args)` (`REDUCE`) or
    /// `cls.__new__(cls, *args)` (`NEWOBJ`), with the state given by `BUILD`
    /// and the items added by `SETITEMS` / `APPEND(S)`.
    Instance { callable: Value, args: Value, state: Option<Value>, items: Vec<(Value, Value)>, appended: Vec<Value> },
}

/// A malformed pickle, or one that does not have the expected shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PickleError {
    /// Byte offset of the offending opcode, when the error comes from the VM.
    pub offset: Option<usize>,
    /// What went wrong.
    pub msg: String,
}

impl std::fmt::Display for PickleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.offset {
            Some(o) => write!(f, "pickle byte {o}: {}", self.msg),
            None => write!(f, "pickle: {}", self.msg),
        }
    }
}

impl std::error::Error for PickleError {}

fn shape_err<T>(msg: impl Into<String>) -> Result<T, PickleError> {
    Err(PickleError { offset: None, msg: msg.into() })
}

/// `(args, state, items)` of a recorded instance.
type InstanceParts<'a> = (&'a [Value], Option<Value>, &'a [(Value, Value)]);

/// A parsed pickle: the object arena and the root value.
#[derive(Debug, Clone, PartialEq)]
pub struct Pickle {
    objects: Vec<Object>,
    root: Value,
}

mod op {
    pub const PROTO: u8 = 0x80;
    pub const GLOBAL: u8 = b'c';
    pub const BINPUT: u8 = b'q';
    pub const LONG_BINPUT: u8 = b'r';
    pub const BINGET: u8 = b'h';
    pub const MARK: u8 = b'(';
    pub const EMPTY_DICT: u8 = b'}';
    pub const EMPTY_LIST: u8 = b']';
    pub const EMPTY_TUPLE: u8 = b')';
    pub const TUPLE: u8 = b't';
    pub const TUPLE1: u8 = 0x85;
    pub const TUPLE2: u8 = 0x86;
    pub const TUPLE3: u8 = 0x87;
    pub const NEWOBJ: u8 = 0x81;
    pub const REDUCE: u8 = b'R';
    pub const BUILD: u8 = b'b';
    pub const SETITEMS: u8 = b'u';
    pub const APPEND: u8 = b'a';
    pub const APPENDS: u8 = b'e';
    pub const BININT: u8 = b'J';
    pub const BININT1: u8 = b'K';
    pub const BININT2: u8 = b'M';
    pub const SHORT_BINSTRING: u8 = b'U';
    pub const BINSTRING: u8 = b'T';
    pub const NEWTRUE: u8 = 0x88;
    pub const NEWFALSE: u8 = 0x89;
    pub const NONE: u8 = b'N';
    pub const STOP: u8 = b'.';
}

struct Vm<'a> {
    data: &'a [u8],
    pos: usize,
    /// Offset of the opcode being executed.
    at: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    objects: Vec<Object>,
}

impl<'a> Vm<'a> {
    fn err<T>(&self, msg: impl Into<String>) -> Result<T, PickleError> {
        Err(PickleError { offset: Some(self.at), msg: msg.into() })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        match end {
            Some(e) => {
                let s = &self.data[self.pos..e];
                self.pos = e;
                Ok(s)
            }
            None => self.err(format!(
                "truncated: needs {n} more bytes but the file ends after {}; the file is incomplete, download it again",
                self.data.len() - self.pos
            )),
        }
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, PickleError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn i32(&mut self) -> Result<i32, PickleError> {
        let b = self.take(4)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn line(&mut self) -> Result<String, PickleError> {
        let rest = &self.data[self.pos..];
        let Some(n) = rest.iter().position(|&b| b == b'\n') else {
            return self.err("truncated: GLOBAL name has no terminating newline");
        };
        let s = &rest[..n];
        self.pos += n + 1;
        match std::str::from_utf8(s) {
            Ok(t) if t.bytes().all(|b| b.is_ascii_graphic()) => Ok(t.to_string()),
            _ => self.err("GLOBAL name is not printable ASCII"),
        }
    }

    fn alloc(&mut self, o: Object) -> Value {
        self.objects.push(o);
        Value::Ref(self.objects.len() - 1)
    }

    fn pop(&mut self) -> Result<Value, PickleError> {
        // A MARK above the top means the stack is empty for this frame.
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return self.err("stack underflow (value expected above MARK)");
        }
        match self.stack.pop() {
            Some(v) => Ok(v),
            None => self.err("stack underflow"),
        }
    }

    fn top(&self) -> Result<Value, PickleError> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return self.err("stack underflow (value expected above MARK)");
        }
        match self.stack.last() {
            Some(&v) => Ok(v),
            None => self.err("stack underflow"),
        }
    }

    fn pop_mark(&mut self) -> Result<Vec<Value>, PickleError> {
        let Some(m) = self.marks.pop() else {
            return self.err("no MARK on the stack");
        };
        Ok(self.stack.split_off(m))
    }

    fn pop_n(&mut self, n: usize) -> Result<Vec<Value>, PickleError> {
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.pop()?);
        }
        v.reverse();
        Ok(v)
    }

    fn object_mut(&mut self, v: Value, op_name: &str) -> Result<&mut Object, PickleError> {
        match v {
            Value::Ref(i) if i < self.objects.len() => Ok(&mut self.objects[i]),
            other => self.err(format!("{op_name} applied to {other:?}, which is not a container")),
        }
    }

    fn is_tuple(&self, v: Value) -> bool {
        matches!(v, Value::Ref(i) if matches!(self.objects.get(i), Some(Object::Tuple(_))))
    }

    fn run(mut self) -> Result<Pickle, PickleError> {
        loop {
            self.at = self.pos;
            if self.pos >= self.data.len() {
                return self.err("truncated: the file ends without a STOP opcode; download it again");
            }
            let code = self.u8()?;
            match code {
                op::PROTO => {
                    let v = self.u8()?;
                    if v > 2 {
                        return self.err(format!("protocol {v} is not supported (only protocol 2 and below)"));
                    }
                }
                op::GLOBAL => {
                    let module = self.line()?;
                    let name = self.line()?;
                    let v = self.alloc(Object::Global { module, name });
                    self.stack.push(v);
                }
                op::BINPUT => {
                    let k = self.u8()? as u32;
                    let v = self.top()?;
                    self.memo.insert(k, v);
                }
                op::LONG_BINPUT => {
                    let k = self.i32()? as u32;
                    let v = self.top()?;
                    self.memo.insert(k, v);
                }
                op::BINGET => {
                    let k = self.u8()? as u32;
                    match self.memo.get(&k) {
                        Some(&v) => self.stack.push(v),
                        None => return self.err(format!("BINGET {k}: memo slot was never set")),
                    }
                }
                op::MARK => self.marks.push(self.stack.len()),
                op::EMPTY_DICT => {
                    let v = self.alloc(Object::Dict(Vec::new()));
                    self.stack.push(v);
                }
                op::EMPTY_LIST => {
                    let v = self.alloc(Object::List(Vec::new()));
                    self.stack.push(v);
                }
                op::EMPTY_TUPLE => {
                    let v = self.alloc(Object::Tuple(Vec::new()));
                    self.stack.push(v);
                }
                op::TUPLE => {
                    let items = self.pop_mark()?;
                    let v = self.alloc(Object::Tuple(items));
                    self.stack.push(v);
                }
                op::TUPLE1 | op::TUPLE2 | op::TUPLE3 => {
                    let n = (code - op::TUPLE1 + 1) as usize;
                    let items = self.pop_n(n)?;
                    let v = self.alloc(Object::Tuple(items));
                    self.stack.push(v);
                }
                op::NEWOBJ | op::REDUCE => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    if !self.is_tuple(args) {
                        return self.err("REDUCE/NEWOBJ arguments are not a tuple");
                    }
                    let v = self.alloc(Object::Instance { callable, args, state: None, items: Vec::new(), appended: Vec::new() });
                    self.stack.push(v);
                }
                op::BUILD => {
                    let st = self.pop()?;
                    let target = self.top()?;
                    match self.object_mut(target, "BUILD")? {
                        Object::Instance { state, .. } => *state = Some(st),
                        _ => return self.err("BUILD applied to an object that is not a constructed instance"),
                    }
                }
                op::SETITEMS => {
                    let kv = self.pop_mark()?;
                    if kv.len() % 2 != 0 {
                        return self.err("SETITEMS with an odd number of values");
                    }
                    let target = self.top()?;
                    let pairs = kv.chunks_exact(2).map(|c| (c[0], c[1]));
                    match self.object_mut(target, "SETITEMS")? {
                        Object::Dict(d) => d.extend(pairs),
                        Object::Instance { items, .. } => items.extend(pairs),
                        _ => return self.err("SETITEMS applied to an object that is not a dict"),
                    }
                }
                op::APPEND | op::APPENDS => {
                    let vals = if code == op::APPEND { vec![self.pop()?] } else { self.pop_mark()? };
                    let target = self.top()?;
                    match self.object_mut(target, "APPEND")? {
                        Object::List(l) => l.extend(vals),
                        Object::Instance { appended, .. } => appended.extend(vals),
                        _ => return self.err("APPEND(S) applied to an object that is not a list"),
                    }
                }
                op::BININT => {
                    let v = self.i32()?;
                    self.stack.push(Value::Int(v as i64));
                }
                op::BININT1 => {
                    let v = self.u8()?;
                    self.stack.push(Value::Int(v as i64));
                }
                op::BININT2 => {
                    let v = self.u16()?;
                    self.stack.push(Value::Int(v as i64));
                }
                op::SHORT_BINSTRING | op::BINSTRING => {
                    let n = if code == op::SHORT_BINSTRING {
                        self.u8()? as usize
                    } else {
                        let n = self.i32()?;
                        if n < 0 {
                            return self.err(format!("BINSTRING with negative length {n}"));
                        }
                        n as usize
                    };
                    let b = self.take(n)?.to_vec();
                    let v = self.alloc(Object::Bytes(b));
                    self.stack.push(v);
                }
                op::NEWTRUE => self.stack.push(Value::Bool(true)),
                op::NEWFALSE => self.stack.push(Value::Bool(false)),
                op::NONE => self.stack.push(Value::None),
                op::STOP => {
                    let root = self.pop()?;
                    return Ok(Pickle { objects: self.objects, root });
                }
                other => {
                    return self.err(format!(
                        "unknown opcode 0x{other:02x} ('{}'); only the protocol-2 opcodes of the Planetoid files are supported",
                        (other as char).escape_default()
                    ))
                }
            }
        }
    }
}

/// Parse a pickle. Nothing is executed; see the module docs.
///
/// # Errors
/// [`PickleError`] with the byte offset for truncated or malformed input and
/// unknown opcodes.
pub fn parse(data: &[u8]) -> Result<Pickle, PickleError> {
    Vm { data, pos: 0, at: 0, stack: Vec::new(), marks: Vec::new(), memo: HashMap::new(), objects: Vec::new() }.run()
}

/// Element type of a numpy array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// Signed integer of the given byte width (1, 2, 4, 8).
    Int(usize),
    /// Unsigned integer of the given byte width (1, 2, 4, 8).
    UInt(usize),
    /// Float of the given byte width (4 or 8).
    Float(usize),
    /// Boolean (1 byte).
    Bool,
}

impl DType {
    fn itemsize(self) -> usize {
        match self {
            DType::Int(n) | DType::UInt(n) | DType::Float(n) => n,
            DType::Bool => 1,
        }
    }
}

/// Elements of a decoded numpy array, in C (row-major) order.
#[derive(Debug, Clone, PartialEq)]
pub enum NdData {
    /// Integer and boolean arrays.
    Int(Vec<i64>),
    /// Float arrays.
    Float(Vec<f64>),
}

/// A decoded numpy array.
#[derive(Debug, Clone, PartialEq)]
pub struct NdArray {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// The stored element type.
    pub dtype: DType,
    /// Elements in C order.
    pub data: NdData,
}

impl NdArray {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.data {
            NdData::Int(v) => v.len(),
            NdData::Float(v) => v.len(),
        }
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements as integers (error for float arrays).
    pub fn as_ints(&self) -> Result<&[i64], PickleError> {
        match &self.data {
            NdData::Int(v) => Ok(v),
            NdData::Float(_) => shape_err(format!("expected an integer array, found {:?}", self.dtype)),
        }
    }

    /// The elements as `f32` (integers are converted).
    pub fn to_f32(&self) -> Vec<f32> {
        match &self.data {
            NdData::Int(v) => v.iter().map(|&x| x as f32).collect(),
            NdData::Float(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }

    /// `(rows, cols)` of a 2-D array.
    pub fn dims2(&self) -> Result<(usize, usize), PickleError> {
        match self.shape[..] {
            [r, c] => Ok((r, c)),
            _ => shape_err(format!("expected a 2-D array, found shape {:?}", self.shape)),
        }
    }
}

impl Pickle {
    /// The value returned by `STOP`.
    pub fn root(&self) -> Value {
        self.root
    }

    /// The object a [`Value::Ref`] points to.
    pub fn object(&self, v: Value) -> Option<&Object> {
        match v {
            Value::Ref(i) => self.objects.get(i),
            _ => None,
        }
    }

    fn tuple(&self, v: Value, what: &str) -> Result<&[Value], PickleError> {
        match self.object(v) {
            Some(Object::Tuple(t)) => Ok(t),
            _ => shape_err(format!("{what}: expected a tuple, found {}", self.describe(v))),
        }
    }

    fn bytes(&self, v: Value, what: &str) -> Result<&[u8], PickleError> {
        match self.object(v) {
            Some(Object::Bytes(b)) => Ok(b),
            _ => shape_err(format!("{what}: expected a byte string, found {}", self.describe(v))),
        }
    }

    fn int(&self, v: Value, what: &str) -> Result<i64, PickleError> {
        match v {
            Value::Int(i) => Ok(i),
            _ => shape_err(format!("{what}: expected an int, found {}", self.describe(v))),
        }
    }

    fn usize(&self, v: Value, what: &str) -> Result<usize, PickleError> {
        let i = self.int(v, what)?;
        usize::try_from(i).or_else(|_| shape_err(format!("{what}: expected a non-negative int, found {i}")))
    }

    fn global(&self, v: Value) -> Option<(&str, &str)> {
        match self.object(v) {
            Some(Object::Global { module, name }) => Some((module, name)),
            _ => None,
        }
    }

    /// A short description of a value for error messages.
    pub fn describe(&self, v: Value) -> String {
        match (v, self.object(v)) {
            (Value::Ref(_), Some(o)) => match o {
                Object::Bytes(b) => format!("a byte string of length {}", b.len()),
                Object::Tuple(t) => format!("a tuple of length {}", t.len()),
                Object::List(l) => format!("a list of length {}", l.len()),
                Object::Dict(d) => format!("a dict of length {}", d.len()),
                Object::Global { module, name } => format!("the global {module}.{name}"),
                Object::Instance { callable, .. } => match self.global(*callable) {
                    Some((m, n)) => format!("an instance built by {m}.{n}"),
                    None => "an instance".to_string(),
                },
            },
            (Value::Ref(i), None) => format!("a dangling reference {i}"),
            (other, _) => format!("{other:?}"),
        }
    }

    /// The `(args, state, items)` of an instance built by `module.name`.
    fn instance(&self, v: Value, module: &[&str], name: &str, what: &str) -> Result<InstanceParts<'_>, PickleError> {
        if let Some(Object::Instance { callable, args, state, items, .. }) = self.object(v) {
            if let Some((m, n)) = self.global(*callable) {
                if module.contains(&m) && n == name {
                    let a = self.tuple(*args, what)?;
                    return Ok((a, *state, items));
                }
            }
        }
        shape_err(format!("{what}: expected a {}.{name} object, found {}", module[0], self.describe(v)))
    }

    fn dtype(&self, v: Value) -> Result<(DType, bool), PickleError> {
        let (args, state, _) = self.instance(v, &["numpy"], "dtype", "array dtype")?;
        let code = match args.first() {
            Some(&a) => self.bytes(a, "dtype code")?,
            None => return shape_err("dtype: missing type code"),
        };
        let code = std::str::from_utf8(code).unwrap_or("?");
        let kind = code.chars().next().unwrap_or('?');
        let width: usize = code.get(1..).and_then(|w| w.parse().ok()).unwrap_or(0);
        let dt = match (kind, width) {
            ('i', 1 | 2 | 4 | 8) => DType::Int(width),
            ('u', 1 | 2 | 4 | 8) => DType::UInt(width),
            ('f', 4 | 8) => DType::Float(width),
            ('b', 1) => DType::Bool,
            _ => return shape_err(format!("unsupported numpy dtype '{}' (supported: i1..i8, u1..u8, f4, f8, b1)", code.escape_debug())),
        };
        // State (3, '<', ...): byte order. Absent state means native order; numpy writes it.
        let mut big_endian = false;
        if let Some(st) = state {
            let t = self.tuple(st, "dtype state")?;
            if let Some(&order) = t.get(1) {
                match self.bytes(order, "dtype byte order")? {
                    b"<" | b"|" | b"=" => {}
                    b">" => big_endian = true,
                    other => return shape_err(format!("dtype byte order {:?} is not '<', '>', '|' or '='", String::from_utf8_lossy(other))),
                }
            }
        }
        Ok((dt, big_endian))
    }

    /// Decode a numpy array (`_reconstruct` + `BUILD` state tuple).
    ///
    /// # Errors
    /// When the value is not a numpy array, or its byte length disagrees with its shape.
    pub fn to_ndarray(&self, v: Value) -> Result<NdArray, PickleError> {
        let (_, state, _) = self.instance(v, &["numpy.core.multiarray", "numpy._core.multiarray"], "_reconstruct", "numpy array")?;
        let Some(state) = state else {
            return shape_err("numpy array without BUILD state");
        };
        let st = self.tuple(state, "numpy array state")?;
        if st.len() != 5 {
            return shape_err(format!("numpy array state: expected (version, shape, dtype, is_fortran, data), found a tuple of length {}", st.len()));
        }
        let shape = self.tuple(st[1], "array shape")?.iter().map(|&d| self.usize(d, "array dimension")).collect::<Result<Vec<usize>, _>>()?;
        let (dtype, big_endian) = self.dtype(st[2])?;
        let fortran = match st[3] {
            Value::Bool(b) => b,
            Value::Int(i) => i != 0,
            other => return shape_err(format!("array is_fortran flag: expected a bool, found {}", self.describe(other))),
        };
        let raw = self.bytes(st[4], "array data")?;
        let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        let expected = count.and_then(|c| c.checked_mul(dtype.itemsize()));
        let (Some(count), Some(expected)) = (count, expected) else {
            return shape_err(format!("array shape {shape:?} is too large"));
        };
        if raw.len() != expected {
            return shape_err(format!("array of shape {shape:?} and dtype {dtype:?} needs {expected} bytes, found {}", raw.len()));
        }
        let w = dtype.itemsize();
        let word = |k: usize| -> [u8; 8] {
            let mut b = [0u8; 8];
            let chunk = &raw[k * w..(k + 1) * w];
            if big_endian {
                for (i, &x) in chunk.iter().rev().enumerate() {
                    b[i] = x;
                }
            } else {
                b[..w].copy_from_slice(chunk);
            }
            b
        };
        let mut data = match dtype {
            DType::Float(4) => NdData::Float(
                (0..count)
                    .map(|k| {
                        let b = word(k);
                        f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64
                    })
                    .collect(),
            ),
            DType::Float(_) => NdData::Float((0..count).map(|k| f64::from_le_bytes(word(k))).collect()),
            DType::Int(_) => NdData::Int(
                (0..count)
                    .map(|k| {
                        // Sign-extend from `w` bytes.
                        let shift = 64 - 8 * w as u32;
                        (i64::from_le_bytes(word(k)) << shift) >> shift
                    })
                    .collect(),
            ),
            DType::UInt(8) => {
                let vals: Result<Vec<i64>, _> =
                    (0..count).map(|k| i64::try_from(u64::from_le_bytes(word(k))).or_else(|_| shape_err("u8 array value does not fit in i64"))).collect();
                NdData::Int(vals?)
            }
            DType::UInt(_) | DType::Bool => NdData::Int((0..count).map(|k| i64::from_le_bytes(word(k))).collect()),
        };
        if fortran && shape.len() == 2 {
            let (r, c) = (shape[0], shape[1]);
            let reorder = |k: usize| (k % c) * r + k / c;
            data = match data {
                NdData::Int(v) => NdData::Int((0..count).map(|k| v[reorder(k)]).collect()),
                NdData::Float(v) => NdData::Float((0..count).map(|k| v[reorder(k)]).collect()),
            };
        } else if fortran && shape.len() > 2 {
            return shape_err("Fortran-order arrays with more than 2 dimensions are not supported");
        }
        Ok(NdArray { shape, dtype, data })
    }

    /// Decode a scipy CSR matrix into a validated [`CsrMatrix`] (columns sorted within each row).
    ///
    /// # Errors
    /// When the value is not a CSR matrix or its arrays are inconsistent.
    pub fn to_csr(&self, v: Value) -> Result<CsrMatrix, PickleError> {
        let (_, state, _) = self.instance(v, &["scipy.sparse.csr", "scipy.sparse._csr"], "csr_matrix", "sparse matrix")?;
        let Some(state) = state else {
            return shape_err("csr_matrix without BUILD state");
        };
        let Some(Object::Dict(d)) = self.object(state) else {
            return shape_err(format!("csr_matrix state: expected a dict, found {}", self.describe(state)));
        };
        let get = |key: &str| -> Result<Value, PickleError> {
            d.iter()
                .find(|(k, _)| matches!(self.object(*k), Some(Object::Bytes(b)) if b == key.as_bytes()))
                .map(|(_, v)| *v)
                .ok_or_else(|| PickleError { offset: None, msg: format!("csr_matrix state has no '{key}' entry") })
        };
        if let Ok(f) = get("format") {
            let f = self.bytes(f, "csr_matrix format")?;
            if f != b"csr" {
                return shape_err(format!("sparse format is '{}', expected 'csr'", String::from_utf8_lossy(f).escape_debug()));
            }
        }
        let shape = self.tuple(get("_shape")?, "csr_matrix _shape")?;
        let [r, c] = shape else {
            return shape_err(format!("csr_matrix _shape has {} dimensions, expected 2", shape.len()));
        };
        let (num_rows, num_cols) = (self.usize(*r, "csr rows")?, self.usize(*c, "csr cols")?);
        let indptr = self.to_ndarray(get("indptr")?)?;
        let indices = self.to_ndarray(get("indices")?)?;
        let values = self.to_ndarray(get("data")?)?.to_f32();
        let indptr = indptr.as_ints()?;
        let indices = indices.as_ints()?;
        if indptr.len().checked_sub(1) != Some(num_rows) {
            return shape_err(format!("csr indptr has {} entries, expected rows + 1 = {}", indptr.len(), num_rows.saturating_add(1)));
        }
        if indices.len() != values.len() {
            return shape_err(format!("csr indices ({}) and data ({}) differ in length", indices.len(), values.len()));
        }
        if indptr[0] != 0 || indptr.windows(2).any(|w| w[0] > w[1]) || indptr[num_rows] as usize != indices.len() || indptr[num_rows] < 0 {
            return shape_err(format!("csr indptr must rise from 0 to nnz = {} without decreasing", indices.len()));
        }
        let row_ptr: Vec<usize> = indptr.iter().map(|&p| p as usize).collect();
        let mut col_idx = Vec::with_capacity(indices.len());
        for &i in indices {
            match usize::try_from(i) {
                Ok(c) if c < num_cols => col_idx.push(c),
                _ => return shape_err(format!("csr column index {i} is outside 0..{num_cols}")),
            }
        }
        // The width becomes a model's input dimension: bound it by the columns used.
        let used = col_idx.iter().max().map_or(0, |c| c + 1);
        if !super::limits::bounded_by_data(num_cols, used, col_idx.len() + num_rows) {
            return shape_err(format!(
                "csr_matrix _shape says {num_cols} columns, but the data uses only the first {used} ({} values in {num_rows} rows)",
                col_idx.len()
            ));
        }
        let mut values = values;
        for rr in 0..num_rows {
            let (a, b) = (row_ptr[rr], row_ptr[rr + 1]);
            if col_idx[a..b].windows(2).any(|w| w[0] > w[1]) {
                let mut row: Vec<(usize, f32)> = (a..b).map(|k| (col_idx[k], values[k])).collect();
                row.sort_by_key(|e| e.0);
                for (k, (cc, vv)) in (a..b).zip(row) {
                    col_idx[k] = cc;
                    values[k] = vv;
                }
            }
        }
        CsrMatrix::new(num_rows, num_cols, row_ptr, col_idx, values).or_else(|e| shape_err(e.to_string()))
    }

    /// Decode an adjacency dict (`defaultdict(list)` or a plain dict) of
    /// `node -> [neighbours]` into `(key, neighbours)` pairs in file order.
    ///
    /// # Errors
    /// When the value is not such a dict or holds non-integer ids.
    pub fn to_adjacency(&self, v: Value) -> Result<Vec<(i64, Vec<i64>)>, PickleError> {
        let items: &[(Value, Value)] = match self.object(v) {
            Some(Object::Dict(d)) => d,
            Some(Object::Instance { .. }) => self.instance(v, &["collections"], "defaultdict", "graph")?.2,
            _ => return shape_err(format!("graph: expected a dict, found {}", self.describe(v))),
        };
        let mut out = Vec::with_capacity(items.len());
        for &(k, l) in items {
            let key = self.int(k, "graph key")?;
            let list = match self.object(l) {
                Some(Object::List(x)) | Some(Object::Tuple(x)) => x,
                _ => return shape_err(format!("graph[{key}]: expected a list, found {}", self.describe(l))),
            };
            let nbrs = list.iter().map(|&x| self.int(x, "neighbour id")).collect::<Result<Vec<i64>, _>>()?;
            out.push((key, nbrs));
        }
        Ok(out)
    }
}

/// Writers producing the exact byte layout of the Planetoid pickles, for tests.
#[cfg(test)]
pub(crate) mod writer {
    use super::op;

    /// A tiny pickle emitter with its own memo counter.
    pub(crate) struct W {
        pub out: Vec<u8>,
        memo: u32,
    }

    impl W {
        pub fn new() -> W {
            W { out: vec![op::PROTO, 2], memo: 1 }
        }
        pub fn put(&mut self) {
            if self.memo < 256 {
                self.out.extend([op::BINPUT, self.memo as u8]);
            } else {
                self.out.push(op::LONG_BINPUT);
                self.out.extend(self.memo.to_le_bytes());
            }
            self.memo += 1;
        }
        pub fn global(&mut self, m: &str, n: &str) {
            self.out.push(op::GLOBAL);
            self.out.extend(format!("{m}\n{n}\n").bytes());
            self.put();
        }
        pub fn int(&mut self, v: i64) {
            if (0..256).contains(&v) {
                self.out.extend([op::BININT1, v as u8]);
            } else if (0..65536).contains(&v) {
                self.out.push(op::BININT2);
                self.out.extend((v as u16).to_le_bytes());
            } else {
                self.out.push(op::BININT);
                self.out.extend((v as i32).to_le_bytes());
            }
        }
        pub fn str(&mut self, s: &[u8]) {
            if s.len() < 256 {
                self.out.extend([op::SHORT_BINSTRING, s.len() as u8]);
            } else {
                self.out.push(op::BINSTRING);
                self.out.extend((s.len() as i32).to_le_bytes());
            }
            self.out.extend(s);
        }
        /// An ndarray of the given shape; `code` is the dtype code (`i4`/`f4`).
        pub fn ndarray(&mut self, shape: &[usize], code: &str, raw: &[u8]) {
            self.global("numpy.core.multiarray", "_reconstruct");
            self.global("numpy", "ndarray");
            self.int(0);
            self.out.push(op::TUPLE1);
            self.str(b"b");
            self.out.extend([op::TUPLE3, op::REDUCE]);
            self.put();
            self.out.push(op::MARK);
            self.int(1);
            for &d in shape {
                self.int(d as i64);
            }
            self.out.push(match shape.len() {
                1 => op::TUPLE1,
                2 => op::TUPLE2,
                _ => op::TUPLE3,
            });
            self.global("numpy", "dtype");
            self.str(code.as_bytes());
            self.int(0);
            self.int(1);
            self.out.extend([op::TUPLE3, op::REDUCE]);
            self.put();
            self.out.push(op::MARK);
            self.int(3);
            self.str(b"<");
            self.out.extend([op::NONE, op::NONE, op::NONE]);
            self.int(-1);
            self.int(-1);
            self.int(0);
            self.out.extend([op::TUPLE, op::BUILD, op::NEWFALSE]);
            self.out.push(op::BINSTRING);
            self.out.extend((raw.len() as i32).to_le_bytes());
            self.out.extend(raw);
            self.out.extend([op::TUPLE, op::BUILD]);
        }
        pub fn stop(mut self) -> Vec<u8> {
            self.out.push(op::STOP);
            self.out
        }
    }

    /// A 2-D int32 array pickle (labels `y`, `ty`, `ally`).
    pub(crate) fn int_matrix(rows: usize, cols: usize, data: &[i32]) -> Vec<u8> {
        let mut w = W::new();
        let raw: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        w.ndarray(&[rows, cols], "i4", &raw);
        w.stop()
    }

    /// One-hot int32 labels.
    pub(crate) fn one_hot(labels: &[usize], num_classes: usize) -> Vec<u8> {
        let mut d = vec![0i32; labels.len() * num_classes];
        for (i, &l) in labels.iter().enumerate() {
            d[i * num_classes + l] = 1;
        }
        int_matrix(labels.len(), num_classes, &d)
    }

    /// A scipy CSR float32 matrix pickle.
    pub(crate) fn csr(rows: usize, cols: usize, dense: &[f32]) -> Vec<u8> {
        csr_claiming(rows, cols, cols as i64, dense)
    }

    /// [`csr`] whose `_shape` claims `claimed_cols` columns.
    pub(crate) fn csr_claiming(rows: usize, cols: usize, claimed_cols: i64, dense: &[f32]) -> Vec<u8> {
        let (mut indptr, mut indices, mut data) = (vec![0i32], vec![], vec![]);
        for r in 0..rows {
            for c in 0..cols {
                if dense[r * cols + c] != 0.0 {
                    indices.push(c as i32);
                    data.push(dense[r * cols + c]);
                }
            }
            indptr.push(indices.len() as i32);
        }
        let mut w = W::new();
        w.global("scipy.sparse.csr", "csr_matrix");
        w.out.extend([op::EMPTY_TUPLE, op::NEWOBJ]);
        w.put();
        w.out.push(op::EMPTY_DICT);
        w.put();
        w.out.push(op::MARK);
        w.str(b"format");
        w.str(b"csr");
        w.str(b"_shape");
        w.int(rows as i64);
        w.int(claimed_cols);
        w.out.push(op::TUPLE2);
        w.str(b"indptr");
        w.ndarray(&[indptr.len()], "i4", &indptr.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>());
        w.str(b"indices");
        w.ndarray(&[indices.len()], "i4", &indices.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>());
        w.str(b"data");
        w.ndarray(&[data.len()], "f4", &data.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>());
        w.str(b"maxprint");
        w.int(50);
        w.str(b"_cs_matrix__has_sorted_indices");
        w.out.push(op::NEWTRUE);
        w.out.extend([op::SETITEMS, op::BUILD]);
        w.stop()
    }

    /// A `defaultdict(list)` adjacency pickle.
    pub(crate) fn adjacency(lists: &[(i64, Vec<i64>)]) -> Vec<u8> {
        let mut w = W::new();
        w.global("collections", "defaultdict");
        w.global("__builtin__", "list");
        w.out.extend([op::TUPLE1, op::REDUCE]);
        w.put();
        w.out.push(op::MARK);
        for (k, l) in lists {
            w.int(*k);
            w.out.push(op::EMPTY_LIST);
            w.put();
            if l.len() == 1 {
                w.int(l[0]);
                w.out.push(op::APPEND);
            } else if !l.is_empty() {
                w.out.push(op::MARK);
                for &v in l {
                    w.int(v);
                }
                w.out.push(op::APPENDS);
            }
        }
        w.out.push(op::SETITEMS);
        w.stop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn int_matrix_round_trip() {
        let bytes = writer::int_matrix(2, 3, &[1, -2, 3, 70000, 0, -70000]);
        let p = parse(&bytes).unwrap();
        let a = p.to_ndarray(p.root()).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.dtype, DType::Int(4));
        assert_eq!(a.as_ints().unwrap(), &[1, -2, 3, 70000, 0, -70000]);
    }

    #[test]
    fn csr_round_trip_and_memo_refs() {
        let dense = [0.0, 1.5, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 3.0];
        let bytes = writer::csr(3, 3, &dense);
        let p = parse(&bytes).unwrap();
        let m = p.to_csr(p.root()).unwrap();
        assert_eq!((m.num_rows, m.num_cols), (3, 3));
        assert_eq!(m.to_dense(), dense.to_vec());
    }

    #[test]
    fn adjacency_round_trip() {
        let lists = vec![(0, vec![1, 2]), (1, vec![0]), (2, vec![0, 300, 70000]), (3, vec![])];
        let p = parse(&writer::adjacency(&lists)).unwrap();
        assert_eq!(p.to_adjacency(p.root()).unwrap(), lists);
    }

    #[test]
    fn memo_sees_later_mutation() {
        // EMPTY_LIST BINPUT 0, BININT1 7, APPEND, POP-free: BINGET 0 returns the mutated list.
        let bytes = [0x80, 2, b']', b'q', 0, b'K', 7, b'a', b'h', 0, 0x86, b'.'];
        let p = parse(&bytes).unwrap();
        let Some(Object::Tuple(t)) = p.object(p.root()) else { panic!() };
        assert_eq!(t[0], t[1]);
        assert_eq!(p.object(t[0]), Some(&Object::List(vec![Value::Int(7)])));
    }

    #[test]
    fn malformed_inputs_are_errors() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "without a STOP"),
            (vec![0x80, 2, b'K'], "truncated"),
            (vec![0x80, 2, b'K', 1], "without a STOP"),
            (vec![0x80, 5, b'N', b'.'], "protocol 5"),
            (vec![0x80, 2, b'I', b'1', b'\n', b'.'], "unknown opcode 0x49"),
            (vec![0x80, 2, b'.'], "underflow"),
            (vec![0x80, 2, b'(', b'.'], "underflow"),
            (vec![0x80, 2, b'h', 3, b'.'], "never set"),
            (vec![0x80, 2, b't', b'.'], "no MARK"),
            (vec![0x80, 2, b'T', 0xff, 0xff, 0xff, 0xff, b'.'], "negative length"),
            (vec![0x80, 2, b'T', 0xff, 0xff, 0xff, 0x0f, b'.'], "truncated"),
            (vec![0x80, 2, b'K', 1, b'K', 2, b'a', b'.'], "not a container"),
            (vec![0x80, 2, b'N', b'K', 1, b'R', b'.'], "not a tuple"),
            (vec![0x80, 2, b'}', b'(', b'K', 1, b'u', b'.'], "odd"),
            (vec![0x80, 2, b'c', b'a', b'\n', b'b', b'.'], "newline"),
        ];
        for (bytes, needle) in cases {
            let e = parse(&bytes).map(|_| ()).unwrap_err().to_string();
            assert!(e.contains(needle), "{bytes:?}: {e}");
        }
    }

    #[test]
    fn shape_errors_are_errors() {
        // Byte length disagrees with shape.
        let mut w = writer::W::new();
        w.ndarray(&[2, 2], "i4", &[0u8; 12]);
        let p = parse(&w.stop()).unwrap();
        assert!(p.to_ndarray(p.root()).unwrap_err().to_string().contains("needs 16 bytes"));
        // Unsupported dtype.
        let mut w = writer::W::new();
        w.ndarray(&[1], "c16", &[0u8; 16]);
        let p = parse(&w.stop()).unwrap();
        assert!(p.to_ndarray(p.root()).unwrap_err().to_string().contains("unsupported numpy dtype"));
        // Wrong kind of object.
        let p = parse(&writer::int_matrix(1, 1, &[1])).unwrap();
        assert!(p.to_csr(p.root()).unwrap_err().to_string().contains("csr_matrix"));
        assert!(p.to_adjacency(p.root()).unwrap_err().to_string().contains("defaultdict"));
        let p = parse(&writer::adjacency(&[(0, vec![1])])).unwrap();
        assert!(p.to_ndarray(p.root()).is_err());
        // Bad CSR column.
        let mut bytes = writer::csr(1, 2, &[0.0, 1.0]);
        let pos = bytes.windows(7).position(|w| w == b"indices").unwrap();
        // The first i4 payload after "indices" is the column (1): make it 9.
        let payload = bytes[pos..].windows(4).position(|w| w == [1, 0, 0, 0]).unwrap() + pos;
        bytes[payload] = 9;
        let p = parse(&bytes).unwrap();
        assert!(p.to_csr(p.root()).unwrap_err().to_string().contains("column index 9"));
    }

    #[test]
    fn corrupted_bytes_never_panic() {
        let base = writer::csr(4, 5, &[1.0, 0.0, 0.0, 2.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 4.0, 0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        // Every prefix.
        for n in 0..base.len() {
            let _ = parse(&base[..n]).map(|p| p.to_csr(p.root()));
        }
        // Deterministic random byte flips.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..3000 {
            let mut b = base.clone();
            for _ in 0..rng.gen_range(1..4) {
                let i = rng.gen_range(0..b.len());
                b[i] = rng.gen();
            }
            if let Ok(p) = parse(&b) {
                let _ = p.to_csr(p.root());
                let _ = p.to_ndarray(p.root());
                let _ = p.to_adjacency(p.root());
            }
        }
    }
}
