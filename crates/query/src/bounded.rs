//! Scalar functions whose output is sized before it is made. DataFusion's `repeat`, `lpad`,
//! `rpad`, `replace`, `regexp_replace`, `concat`, `concat_ws`, `overlay` and `translate`
//! allocate whatever their arguments ask for, outside the query's memory pool: one
//! `repeat('x', 1e10)` grew the process to many GB, and `lpad` near 2^31 panicked on an
//! offset overflow. Each session registers these wrappers in their place: a wrapper computes
//! an upper bound of the output's bytes from the arguments (every row, a scalar counted once
//! per row it will fill), refuses a call past the query's memory limit with
//! [`OutputTooLarge`] (a 400), reserves the bound from the query's memory pool (failing like
//! any other allocation past it), calls DataFusion's function, and ties the reservation to
//! the output's buffers, so it is released when the last batch holding them is dropped.
//!
//! The wrappers are volatile, so the planner never folds a call with literal arguments into
//! one huge literal that execution would then copy into every row of every batch.

use std::hash::{Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::ptr::NonNull;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, make_array};
use datafusion::arrow::buffer::Buffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::FieldRef;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool, MemoryReservation};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use datafusion::prelude::SessionContext;

/// Bytes of one string array's values: offsets are `i32` for `Utf8`.
const UTF8_VALUES_BYTES_MAX: u64 = i32::MAX as u64;
/// What a non-string argument of `concat` prints as, at most (numbers, times, booleans).
const PRINTED_VALUE_BYTES_MAX: u64 = 64;

/// A call whose output could not fit the query's memory limit. Carries the function's name
/// and the limit, never an argument.
#[derive(Debug, thiserror::Error)]
#[error(
    "{function}() would produce more than {limit_bytes} bytes, this query's memory limit; ask for smaller lengths or counts"
)]
pub struct OutputTooLarge {
    pub function: &'static str,
    pub limit_bytes: u64,
}

/// How a function's output size follows from its arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Shape {
    /// `repeat(s, n)`: len(s) * n.
    Repeat,
    /// `lpad(s, n [, fill])`, `rpad`: len(s) + n * the widest character of fill.
    Pad,
    /// `replace(s, from, to)`: len(s) + (len(s) / len(from) + 1) * len(to).
    Replace,
    /// `regexp_replace(s, pattern, replacement [, flags])`: len(s) + (len(s) + 1) *
    /// len(replacement) + len(s) per `$` in it (group references expand to disjoint matches).
    RegexpReplace,
    /// `concat`, `overlay`: the sum of the arguments.
    Sum,
    /// `concat_ws(sep, ...)`: the sum of the arguments and the separator between each two.
    ConcatWs,
    /// `translate(s, from, to)`: 4 bytes per byte of s (a character may widen to 4 bytes).
    Translate,
}

const FUNCTIONS: [(&str, Shape); 9] = [
    ("repeat", Shape::Repeat),
    ("lpad", Shape::Pad),
    ("rpad", Shape::Pad),
    ("replace", Shape::Replace),
    ("regexp_replace", Shape::RegexpReplace),
    ("concat", Shape::Sum),
    ("concat_ws", Shape::ConcatWs),
    ("overlay", Shape::Sum),
    ("translate", Shape::Translate),
];

/// Replaces the session's functions of [`FUNCTIONS`] with bounded ones drawing on `pool`.
pub(crate) fn register(ctx: &SessionContext, pool: &Arc<dyn MemoryPool>, limit_bytes: usize) {
    let state = ctx.state();
    for (name, shape) in FUNCTIONS {
        let Some(inner) = state.scalar_functions().get(name).cloned() else {
            continue;
        };
        let mut signature = inner.signature().clone();
        signature.volatility = Volatility::Volatile;
        let bounded = Bounded {
            name,
            inner,
            shape,
            signature,
            pool: pool.clone(),
            limit_bytes: limit_bytes as u64,
        };
        ctx.register_udf(ScalarUDF::new_from_impl(bounded));
    }
}

#[derive(Debug)]
struct Bounded {
    name: &'static str,
    inner: Arc<ScalarUDF>,
    shape: Shape,
    signature: Signature,
    pool: Arc<dyn MemoryPool>,
    limit_bytes: u64,
}

impl PartialEq for Bounded {
    fn eq(&self, other: &Bounded) -> bool {
        self.name == other.name
            && self.limit_bytes == other.limit_bytes
            && Arc::ptr_eq(&self.pool, &other.pool)
    }
}

impl Eq for Bounded {}

impl Hash for Bounded {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.limit_bytes.hash(state);
    }
}

impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.name
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let cap = self.limit_bytes.min(UTF8_VALUES_BYTES_MAX);
        let bound = output_bytes(self.shape, &args.args, rows)?;
        if bound > cap {
            return Err(DataFusionError::External(Box::new(OutputTooLarge {
                function: self.name,
                limit_bytes: cap,
            })));
        }
        let reservation = MemoryConsumer::new(self.name).register(&self.pool);
        reservation.try_grow(usize::try_from(bound).unwrap_or(usize::MAX))?;
        let out = self.inner.invoke_with_args(args)?.into_array(rows)?;
        reservation.resize(out.get_array_memory_size());
        Ok(ColumnarValue::Array(hold(&out, reservation)?))
    }
}

/// An upper bound of the bytes `shape` produces for these arguments over `rows` rows.
fn output_bytes(shape: Shape, args: &[ColumnarValue], rows: usize) -> Result<u64> {
    let lens = |i: usize| {
        args.get(i)
            .map_or(Ok(vec![0; rows]), |a| string_bytes(a, rows))
    };
    let mut total: u128 = 0;
    match shape {
        Shape::Repeat => {
            let (s, n) = (lens(0)?, counts(args.get(1), rows)?);
            for row in 0..rows {
                total += s[row] as u128 * n[row] as u128;
            }
        }
        Shape::Pad => {
            let (s, n) = (lens(0)?, counts(args.get(1), rows)?);
            let width = match args.get(2) {
                Some(fill) => widest_char(fill, rows)?,
                None => vec![1; rows],
            };
            for row in 0..rows {
                total += s[row] as u128 + n[row] as u128 * width[row] as u128;
            }
        }
        Shape::Replace => {
            let (s, from, to) = (lens(0)?, lens(1)?, lens(2)?);
            for row in 0..rows {
                total += s[row] as u128
                    + (s[row] as u128 / from[row].max(1) as u128 + 1) * to[row] as u128;
            }
        }
        Shape::RegexpReplace => {
            let (s, replacement, dollars) = (
                lens(0)?,
                lens(2)?,
                match args.get(2) {
                    Some(r) => dollar_signs(r, rows)?,
                    None => vec![0; rows],
                },
            );
            for row in 0..rows {
                let s = s[row] as u128;
                total += s + (s + 1) * replacement[row] as u128 + dollars[row] as u128 * s;
            }
        }
        Shape::Sum => {
            for arg in args {
                let l = string_bytes(arg, rows)?;
                total += l.iter().map(|v| *v as u128).sum::<u128>();
            }
        }
        Shape::ConcatWs => {
            let separator = lens(0)?;
            let between = args.len().saturating_sub(2) as u128;
            total = separator.iter().map(|v| *v as u128 * between).sum();
            for arg in args.iter().skip(1) {
                total += string_bytes(arg, rows)?
                    .iter()
                    .map(|v| *v as u128)
                    .sum::<u128>();
            }
        }
        Shape::Translate => {
            total = lens(0)?.iter().map(|v| *v as u128 * 4).sum();
        }
    }
    // Offsets or views of the output array: at most 16 bytes a row.
    total += rows as u128 * 16;
    Ok(u64::try_from(total).unwrap_or(u64::MAX))
}

/// Bytes of a string argument per row (a scalar repeated; a non-string argument as printed).
fn string_bytes(arg: &ColumnarValue, rows: usize) -> Result<Vec<u64>> {
    Ok(match arg {
        ColumnarValue::Scalar(value) => vec![scalar_bytes(value); rows],
        ColumnarValue::Array(array) => match array.data_type() {
            DataType::Utf8 => array
                .as_string::<i32>()
                .iter()
                .map(|v| v.map_or(0, |s| s.len() as u64))
                .collect(),
            DataType::LargeUtf8 => array
                .as_string::<i64>()
                .iter()
                .map(|v| v.map_or(0, |s| s.len() as u64))
                .collect(),
            DataType::Utf8View => array
                .as_string_view()
                .iter()
                .map(|v| v.map_or(0, |s| s.len() as u64))
                .collect(),
            _ => vec![PRINTED_VALUE_BYTES_MAX; array.len()],
        },
    })
}

fn scalar_bytes(value: &ScalarValue) -> u64 {
    match value {
        ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => {
            s.as_ref().map_or(0, |s| s.len() as u64)
        }
        _ => PRINTED_VALUE_BYTES_MAX,
    }
}

/// Per-row strings of an argument, for measures that look inside them.
fn strings_map(arg: &ColumnarValue, rows: usize, f: impl Fn(&str) -> u64) -> Result<Vec<u64>> {
    Ok(match arg {
        ColumnarValue::Scalar(
            ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s),
        ) => vec![s.as_deref().map_or(0, &f); rows],
        ColumnarValue::Scalar(_) => vec![0; rows],
        ColumnarValue::Array(array) => match array.data_type() {
            DataType::Utf8 => array
                .as_string::<i32>()
                .iter()
                .map(|v| v.map_or(0, &f))
                .collect(),
            DataType::LargeUtf8 => array
                .as_string::<i64>()
                .iter()
                .map(|v| v.map_or(0, &f))
                .collect(),
            DataType::Utf8View => array
                .as_string_view()
                .iter()
                .map(|v| v.map_or(0, &f))
                .collect(),
            _ => vec![0; array.len()],
        },
    })
}

/// The widest character (UTF-8 bytes) of a fill string; 1 for an empty or null one.
fn widest_char(arg: &ColumnarValue, rows: usize) -> Result<Vec<u64>> {
    strings_map(arg, rows, |s| {
        s.chars().map(|c| c.len_utf8() as u64).max().unwrap_or(1)
    })
}

fn dollar_signs(arg: &ColumnarValue, rows: usize) -> Result<Vec<u64>> {
    strings_map(arg, rows, |s| {
        s.bytes().filter(|b| *b == b'$').count() as u64
    })
}

/// An integer argument per row, negatives and nulls as 0.
fn counts(arg: Option<&ColumnarValue>, rows: usize) -> Result<Vec<u64>> {
    let Some(arg) = arg else {
        return Ok(vec![0; rows]);
    };
    let array = arg.clone().into_array(rows)?;
    let array = cast(&array, &DataType::Int64)?;
    Ok(array
        .as_primitive::<Int64Type>()
        .iter()
        .map(|v| v.map_or(0, |n| n.max(0) as u64))
        .collect())
}

/// `array` with every buffer also owning `reservation`: the bytes stay counted in the query's
/// pool while anything still holds the output.
fn hold(array: &ArrayRef, reservation: MemoryReservation) -> Result<ArrayRef> {
    let owner: Arc<AssertUnwindSafe<MemoryReservation>> = Arc::new(AssertUnwindSafe(reservation));
    let data = array.to_data();
    let buffers: Vec<Buffer> = data.buffers().iter().map(|b| held(b, &owner)).collect();
    let data = data.into_builder().buffers(buffers).build()?;
    Ok(make_array(data))
}

fn held(buffer: &Buffer, owner: &Arc<AssertUnwindSafe<MemoryReservation>>) -> Buffer {
    let keep = Arc::new(AssertUnwindSafe((buffer.clone(), owner.clone())));
    let ptr = NonNull::new(buffer.as_ptr().cast_mut()).unwrap_or(NonNull::dangling());
    // SAFETY: `keep` owns a clone of `buffer`, so its `len` bytes at `ptr` stay allocated and
    // unchanged (arrow buffers are immutable) for as long as the new buffer lives.
    unsafe { Buffer::from_custom_allocation(ptr, buffer.len(), keep) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf8(s: &str) -> ColumnarValue {
        ColumnarValue::Scalar(ScalarValue::Utf8(Some(s.to_owned())))
    }

    fn int(n: i64) -> ColumnarValue {
        ColumnarValue::Scalar(ScalarValue::Int64(Some(n)))
    }

    #[test]
    fn bounds_cover_what_the_functions_make() {
        let rows = |n: u64| n * 16;
        assert_eq!(
            output_bytes(Shape::Repeat, &[utf8("ab"), int(10)], 3).unwrap(),
            60 + rows(3)
        );
        assert_eq!(
            output_bytes(Shape::Repeat, &[utf8("ab"), int(-5)], 3).unwrap(),
            rows(3)
        );
        assert_eq!(
            output_bytes(Shape::Pad, &[utf8("ab"), int(10)], 1).unwrap(),
            12 + rows(1)
        );
        assert_eq!(
            output_bytes(Shape::Pad, &[utf8("ab"), int(10), utf8("xé")], 1).unwrap(),
            22 + rows(1)
        );
        assert_eq!(
            output_bytes(Shape::Replace, &[utf8("aaaa"), utf8("a"), utf8("bbb")], 1).unwrap(),
            4 + 5 * 3 + rows(1)
        );
        assert_eq!(
            output_bytes(Shape::Replace, &[utf8("aaaa"), utf8(""), utf8("b")], 1).unwrap(),
            4 + 5 + rows(1)
        );
        assert_eq!(
            output_bytes(
                Shape::RegexpReplace,
                &[utf8("abc"), utf8("."), utf8("<$0>")],
                1
            )
            .unwrap(),
            3 + 4 * 4 + 3 + rows(1)
        );
        assert_eq!(
            output_bytes(Shape::Sum, &[utf8("ab"), utf8("cde"), int(7)], 2).unwrap(),
            2 * (5 + PRINTED_VALUE_BYTES_MAX) + rows(2)
        );
        assert_eq!(
            output_bytes(
                Shape::ConcatWs,
                &[utf8(","), utf8("ab"), utf8("cd"), utf8("e")],
                1
            )
            .unwrap(),
            2 + 5 + rows(1)
        );
        assert_eq!(
            output_bytes(Shape::Repeat, &[utf8("ab"), int(i64::MAX)], 8192).unwrap(),
            u64::MAX,
            "saturates, never wraps"
        );
    }
}
