//! How values become bytes and back: MessagePack through rmp-serde (structs
//! as maps), except for the plain types that hold bulk data, which are
//! written and read as one block instead of element by element.
//!
//! serde hands a `Vec<u8>` to a serializer one integer at a time, and
//! rmp-serde writes each as its own MessagePack number and reads it back the
//! same way: ~40 MB/s for a 100 MB vector. Without specialization a serde
//! serializer cannot tell a `Vec<u8>` from any other sequence, so the fast
//! path is taken one level up, where the value's type is known: every
//! argument of a remote call or actor method, every result, and every
//! [`put`](crate::put) / [`get`](crate::get) value goes through
//! [`encode_value`] / [`decode_value`], which compare the value's
//! [`TypeId`] with the bulk types (the comparison is between two constants
//! in each monomorphized copy, so it costs nothing for other types):
//!
//! | type | wire form |
//! | --- | --- |
//! | `Vec<u8>` | MessagePack `bin` (what Python's `bytes` is) |
//! | `Vec<f64>`, `Vec<f32>`, `Vec<i64>`, `Vec<u64>`, `Vec<i32>`, `Vec<u32>`, `Vec<i16>`, `Vec<u16>`, `Vec<i8>` | MessagePack `ext`, its type the element's Python `struct` code (`'d'`, `'f'`, `'q'`, `'Q'`, `'i'`, `'I'`, `'h'`, `'H'`, `'b'`), its payload the elements little-endian |
//! | `String` | MessagePack `str` (rmp-serde already writes it as one block) |
//!
//! The receiving side accepts the plain MessagePack forms too (an array of
//! numbers, as another language or an older caller sends it), and a
//! [`PackedVec`](crate::PackedVec)'s `bin` for the numeric vectors. The
//! Python SDK reads the packed `ext` forms as lists, so a Rust task
//! returning `Vec<f64>` gives a Python caller a list of floats, as before.
//!
//! Moving 100 MB costs more in fresh memory than in the copy itself (a
//! sandbox's pages are new to it; on the machines measured, first touches
//! cost 0.4-1 ms per MB against ~0.1 ms per MB to copy), so a `Vec<u8>`
//! is not copied at all where it can stay in the buffer it came in: a task's
//! large `Vec<u8>` argument becomes its vector in place, a `Vec<u8>` result
//! becomes the result bytes in place (its header written before it), and a
//! `get` of one keeps the bytes the host wrote ([`decode_owned`],
//! [`into_bytes`]). Each costs a move within memory already touched instead
//! of a copy into new memory.
//!
//! Inside other values (a struct field, a tuple element, `Option<Vec<u8>>`)
//! serde decides, so those fields travel element by element unless they say
//! `#[serde(with = "raylab_guest::packed")]` ([`packed`](crate::packed)),
//! which writes the same packed forms.
//!
//! Longer than ~600 lines by its unit tests (the code is under 600): they
//! sit beside the format they check.

use std::any::{Any, TypeId};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, Packable, Result};

/// MessagePack `bin` with a 32-bit length.
const BIN32: u8 = 0xc6;

/// Append the MessagePack header of a `bin` of `len` bytes.
pub(crate) fn write_bin_header(out: &mut Vec<u8>, len: usize) -> Result<()> {
    let len = u32::try_from(len).map_err(|_| too_big(len))?;
    match len {
        0..=0xff => out.extend_from_slice(&[0xc4, len as u8]),
        0x100..=0xffff => {
            out.push(0xc5);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(BIN32);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    Ok(())
}

/// Append the MessagePack header of a `str` of `len` bytes.
pub(crate) fn write_str_header(out: &mut Vec<u8>, len: usize) -> Result<()> {
    let len = u32::try_from(len).map_err(|_| too_big(len))?;
    match len {
        0..=31 => out.push(0xa0 | len as u8),
        32..=0xff => out.extend_from_slice(&[0xd9, len as u8]),
        0x100..=0xffff => {
            out.push(0xda);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0xdb);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    Ok(())
}

/// Append the MessagePack header of an `ext` of type `ty` and `len` bytes
/// (the fixed forms for 1, 2, 4, 8 and 16 bytes, as the format asks).
pub(crate) fn write_ext_header(out: &mut Vec<u8>, ty: i8, len: usize) -> Result<()> {
    let len = u32::try_from(len).map_err(|_| too_big(len))?;
    match len {
        1 => out.push(0xd4),
        2 => out.push(0xd5),
        4 => out.push(0xd6),
        8 => out.push(0xd7),
        16 => out.push(0xd8),
        0..=0xff => out.extend_from_slice(&[0xc7, len as u8]),
        0x100..=0xffff => {
            out.push(0xc8);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0xc9);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    out.push(ty as u8);
    Ok(())
}

/// Append the MessagePack header of an array of `len` items.
pub(crate) fn write_array_header(out: &mut Vec<u8>, len: usize) -> Result<()> {
    let len = u32::try_from(len).map_err(|_| too_big(len))?;
    match len {
        0..=15 => out.push(0x90 | len as u8),
        16..=0xffff => {
            out.push(0xdc);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0xdd);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    Ok(())
}

fn too_big(len: usize) -> Error {
    Error::invalid(format!(
        "a value of {len} bytes is over MessagePack's 4 GiB limit"
    ))
}

/// What a packed block at the front of some bytes is.
enum Block<'a> {
    /// A `bin`.
    Bin(&'a [u8]),
    /// An `ext` of this type.
    Ext(i8, &'a [u8]),
    /// A `str` (not yet checked to be UTF-8).
    Str(&'a [u8]),
}

/// The `bin` or `ext` at the front of `bytes` and the bytes after it, or
/// `None` when the value there is something else (or cut short).
fn block(bytes: &[u8]) -> Option<(Block<'_>, &[u8])> {
    let (&marker, rest) = bytes.split_first()?;
    let be = |n: usize| -> Option<usize> {
        let b = rest.get(..n)?;
        Some(b.iter().fold(0usize, |acc, &x| acc << 8 | x as usize))
    };
    if let 0xa0..=0xbf | 0xd9..=0xdb = marker {
        let (len, header): (usize, usize) = match marker {
            0xd9 => (be(1)?, 1),
            0xda => (be(2)?, 2),
            0xdb => (be(4)?, 4),
            _ => ((marker & 0x1f) as usize, 0),
        };
        let body = rest.get(header..header.checked_add(len)?)?;
        return Some((Block::Str(body), &rest[header + len..]));
    }
    let (is_bin, len, header) = match marker {
        0xc4 => (true, be(1)?, 1),
        0xc5 => (true, be(2)?, 2),
        0xc6 => (true, be(4)?, 4),
        0xd4 => (false, 1, 0),
        0xd5 => (false, 2, 0),
        0xd6 => (false, 4, 0),
        0xd7 => (false, 8, 0),
        0xd8 => (false, 16, 0),
        0xc7 => (false, be(1)?, 1),
        0xc8 => (false, be(2)?, 2),
        0xc9 => (false, be(4)?, 4),
        _ => return None,
    };
    let rest = rest.get(header..)?;
    if is_bin {
        let body = rest.get(..len)?;
        Some((Block::Bin(body), &rest[len..]))
    } else {
        let (&ty, rest) = rest.split_first()?;
        let body = rest.get(..len)?;
        Some((Block::Ext(ty as i8, body), &rest[len..]))
    }
}

/// Elements of `P` from their little-endian bytes.
pub(crate) fn unpack<P: Packable>(bytes: &[u8]) -> std::result::Result<Vec<P>, String> {
    if !bytes.len().is_multiple_of(P::SIZE) {
        return Err(format!(
            "{} bytes is not a whole number of {}-byte elements",
            bytes.len(),
            P::SIZE
        ));
    }
    Ok(P::from_le_bytes_vec(bytes))
}

/// Box a value of the type `T` is known (by its `TypeId`) to be.
fn cast<T: 'static, U: 'static>(value: U) -> T {
    match (Box::new(value) as Box<dyn Any>).downcast::<T>() {
        Ok(v) => *v,
        Err(_) => unreachable!("cast only follows a TypeId check"),
    }
}

/// Append `value`'s encoding to `out`: the packed form for the bulk types
/// (see the module docs), MessagePack through serde for everything else.
/// `value`'s encoding as a short header and the bytes `value` already
/// holds that follow it, for the types whose encoding is that (a byte
/// vector, a vector of numbers, a [`PackedVec`](crate::PackedVec)): a put
/// then hands the host those bytes where they are. `None` for the others.
pub(crate) fn split_value<T: 'static>(value: &T) -> Result<Option<(Vec<u8>, &[u8])>> {
    let any = value as &dyn Any;
    let mut head = Vec::with_capacity(6);
    if let Some(v) = any.downcast_ref::<Vec<u8>>() {
        write_bin_header(&mut head, v.len())?;
        return Ok(Some((head, v)));
    }
    macro_rules! packed {
        ($($t:ty),*) => {$(
            if let Some(v) = any.downcast_ref::<Vec<$t>>() {
                let Some(body) = <$t as Packable>::slice_as_le_bytes(v) else { return Ok(None) };
                write_ext_header(&mut head, <$t as Packable>::EXT, body.len())?;
                return Ok(Some((head, body)));
            }
            if let Some(v) = any.downcast_ref::<crate::PackedVec<$t>>() {
                let Some(body) = <$t as Packable>::slice_as_le_bytes(&v.0) else { return Ok(None) };
                write_bin_header(&mut head, body.len())?;
                return Ok(Some((head, body)));
            }
        )*};
    }
    packed!(f64, f32, i64, u64, i32, u32, i16, u16, i8);
    Ok(None)
}

pub(crate) fn encode_value<T: Serialize + 'static>(value: &T, out: &mut Vec<u8>) -> Result<()> {
    let id = TypeId::of::<T>();
    if id == TypeId::of::<Vec<u8>>() {
        let v = (value as &dyn Any).downcast_ref::<Vec<u8>>().expect("type");
        write_bin_header(out, v.len())?;
        out.extend_from_slice(v);
        return Ok(());
    }
    macro_rules! packed {
        ($($t:ty),*) => {$(
            if id == TypeId::of::<Vec<$t>>() {
                let v = (value as &dyn Any).downcast_ref::<Vec<$t>>().expect("type");
                write_ext_header(out, <$t as Packable>::EXT, v.len() * <$t as Packable>::SIZE)?;
                <$t as Packable>::extend_le(v, out);
                return Ok(());
            }
        )*};
    }
    packed!(f64, f32, i64, u64, i32, u32, i16, u16, i8);
    rmp_serde::encode::write_named(out, value).map_err(|e| {
        Error::invalid(format!(
            "could not encode a value of type `{}` as MessagePack: {e}",
            std::any::type_name::<T>()
        ))
    })
}

/// Decode the value at the front of `bytes` as a `T` and return it with
/// the bytes after it. The bulk types take their packed forms (and the
/// plain ones); everything else goes through serde.
pub(crate) fn decode_front<T: DeserializeOwned + 'static>(bytes: &[u8]) -> Result<(T, &[u8])> {
    let id = TypeId::of::<T>();
    let bad = |why: String| {
        Error::invalid(format!(
            "could not decode the value as `{}`: {why}",
            std::any::type_name::<T>()
        ))
    };
    if id == TypeId::of::<Vec<u8>>()
        && let Some((Block::Bin(body), rest)) = block(bytes)
    {
        return Ok((cast::<T, _>(body.to_vec()), rest));
    }
    macro_rules! packed {
        ($($t:ty),*) => {$(
            if id == TypeId::of::<Vec<$t>>() {
                match block(bytes) {
                    Some((Block::Ext(ty, body), rest)) if ty == <$t as Packable>::EXT => {
                        return Ok((cast::<T, _>(unpack::<$t>(body).map_err(bad)?), rest));
                    }
                    Some((Block::Bin(body), rest)) => {
                        return Ok((cast::<T, _>(unpack::<$t>(body).map_err(bad)?), rest));
                    }
                    Some((Block::Ext(ty, _), _)) if ty != crate::OBJECT_REF_EXT => {
                        return Err(bad(format!(
                            "it holds packed {} values, not {}",
                            packed_name(ty),
                            std::any::type_name::<$t>()
                        )));
                    }
                    _ => {}
                }
            }
        )*};
    }
    packed!(f64, f32, i64, u64, i32, u32, i16, u16, i8);
    if id == TypeId::of::<String>()
        && let Some((Block::Str(body), rest)) = block(bytes)
    {
        let s = std::str::from_utf8(body).map_err(|e| bad(e.to_string()))?;
        return Ok((cast::<T, _>(s.to_owned()), rest));
    }
    let len = value_len(bytes).ok_or_else(|| bad("the MessagePack is cut short".to_string()))?;
    let value = rmp_serde::from_slice(&bytes[..len]).map_err(|e| bad(e.to_string()))?;
    Ok((value, &bytes[len..]))
}

/// The length of the MessagePack value at the front of `bytes`, or `None`
/// if it is cut short (or not MessagePack). Iterative: nesting costs no
/// stack.
pub(crate) fn value_len(bytes: &[u8]) -> Option<usize> {
    let mut at = 0usize;
    // Values still to skip.
    let mut left = 1usize;
    let be = |at: usize, n: usize| -> Option<usize> {
        let b = bytes.get(at..at.checked_add(n)?)?;
        Some(b.iter().fold(0usize, |acc, &x| acc << 8 | x as usize))
    };
    while left > 0 {
        left -= 1;
        let marker = *bytes.get(at)?;
        at += 1;
        // (bytes after the marker to skip, items that follow)
        let (skip, items) = match marker {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0),
            0x80..=0x8f => (0, 2 * (marker & 0x0f) as usize),
            0x90..=0x9f => (0, (marker & 0x0f) as usize),
            0xa0..=0xbf => ((marker & 0x1f) as usize, 0),
            0xcc | 0xd0 => (1, 0),
            0xcd | 0xd1 => (2, 0),
            0xce | 0xd2 | 0xca => (4, 0),
            0xcf | 0xd3 | 0xcb => (8, 0),
            0xd4 => (2, 0),
            0xd5 => (3, 0),
            0xd6 => (5, 0),
            0xd7 => (9, 0),
            0xd8 => (17, 0),
            0xc4 | 0xd9 => (1 + be(at, 1)?, 0),
            0xc5 | 0xda => (2 + be(at, 2)?, 0),
            0xc6 | 0xdb => (4 + be(at, 4)?, 0),
            0xc7 => (2 + be(at, 1)?, 0),
            0xc8 => (3 + be(at, 2)?, 0),
            0xc9 => (5 + be(at, 4)?, 0),
            0xdc => (2, be(at, 2)?),
            0xdd => (4, be(at, 4)?),
            0xde => (2, 2 * be(at, 2)?),
            0xdf => (4, 2 * be(at, 4)?),
            // 0xc1 is never used.
            _ => return None,
        };
        at = at.checked_add(skip)?;
        if at > bytes.len() {
            return None;
        }
        left = left.checked_add(items)?;
    }
    Some(at)
}

/// A `Vec<u8>` argument at least this long takes the argument buffer in
/// place instead of being copied out of it.
const IN_PLACE_MIN: usize = 64 * 1024;

/// Turn `bytes` into the vector of its part `start..end`, in place: one
/// move within the buffer, no new memory.
fn keep_range(mut bytes: Vec<u8>, start: usize, end: usize) -> Vec<u8> {
    bytes.truncate(end);
    bytes.drain(..start);
    bytes
}

/// Whether `T` is a type whose value can be the very buffer its bytes came
/// in (`Vec<u8>` from a `bin`, `String` from a `str`), and the block at the
/// front of `bytes` is that form: its range within `bytes`.
fn in_place_range<T: 'static>(whole: &[u8], front: &[u8]) -> Option<(usize, usize, usize)> {
    let id = TypeId::of::<T>();
    // The type first: for every other type this is a constant `None`.
    if id != TypeId::of::<Vec<u8>>() && id != TypeId::of::<String>() {
        return None;
    }
    let (body, rest) = match block(front)? {
        (Block::Bin(body), rest) if id == TypeId::of::<Vec<u8>>() => (body, rest),
        (Block::Str(body), rest) if id == TypeId::of::<String>() => (body, rest),
        _ => return None,
    };
    let start = body.as_ptr() as usize - whole.as_ptr() as usize;
    Some((start, start + body.len(), whole.len() - rest.len()))
}

/// The value of type `T` (`Vec<u8>` or `String`, as [`in_place_range`]
/// found) that `buffer` is.
fn from_buffer<T: 'static>(buffer: Vec<u8>) -> Result<T> {
    if TypeId::of::<T>() == TypeId::of::<String>() {
        let s = String::from_utf8(buffer)
            .map_err(|e| Error::invalid(format!("could not decode the value as `String`: {e}")))?;
        return Ok(cast(s));
    }
    Ok(cast(buffer))
}

/// Decode a whole value from bytes it may keep: a `Vec<u8>` whose `bin`
/// (or a `String` whose `str`) fills them becomes the value in place;
/// anything else as [`decode_value`].
pub(crate) fn decode_owned<T: DeserializeOwned + 'static>(bytes: Vec<u8>) -> Result<T> {
    if let Some((start, end, _)) = in_place_range::<T>(&bytes, &bytes) {
        return from_buffer(keep_range(bytes, start, end));
    }
    decode_value(&bytes)
}

/// A `Vec<u8>` (or `String`) value as its encoded bytes, in place (the
/// header is written before the data within the vector's spare capacity
/// when it has 5 bytes to spare, as a task's argument buffer has, else
/// after one reallocation); any other value is handed back.
pub(crate) fn into_bytes<T: 'static>(value: T) -> std::result::Result<Vec<u8>, T> {
    let id = TypeId::of::<T>();
    let string = id == TypeId::of::<String>();
    if id != TypeId::of::<Vec<u8>>() && !string {
        return Err(value);
    }
    let mut v: Vec<u8> = if string {
        cast::<String, _>(value).into_bytes()
    } else {
        cast(value)
    };
    let mut header = Vec::with_capacity(5);
    let written = if string {
        write_str_header(&mut header, v.len())
    } else {
        write_bin_header(&mut header, v.len())
    };
    if written.is_err() {
        // Over 4 GiB: let the ordinary path say so.
        return Err(if string {
            cast(String::from_utf8(v).expect("it was a String"))
        } else {
            cast(v)
        });
    }
    let len = v.len();
    v.resize(len + header.len(), 0);
    v.copy_within(..len, header.len());
    v[..header.len()].copy_from_slice(&header);
    Ok(v)
}

/// Decode the argument at `*at` of `bytes` and move `*at` past it. A
/// `Vec<u8>` or `String` of at least [`IN_PLACE_MIN`] bytes, when no other
/// argument has been set aside yet, is not decoded: its range goes into
/// `take` and the result is `None` (the caller turns the buffer into it at
/// the end).
fn arg_at<T: DeserializeOwned + 'static>(
    bytes: &[u8],
    at: &mut usize,
    take: &mut Option<(usize, usize)>,
) -> Result<Option<T>> {
    let front = &bytes[*at..];
    if take.is_none()
        && let Some((start, end, next)) = in_place_range::<T>(bytes, front)
        && end - start >= IN_PLACE_MIN
    {
        *take = Some((start, end));
        *at = next;
        return Ok(None);
    }
    let (value, rest) = decode_front::<T>(front)?;
    *at = bytes.len() - rest.len();
    Ok(Some(value))
}

/// Decode a whole value (as [`decode_front`]; bytes after it are ignored,
/// as rmp-serde ignores them).
pub(crate) fn decode_value<T: DeserializeOwned + 'static>(bytes: &[u8]) -> Result<T> {
    decode_front(bytes).map(|(v, _)| v)
}

/// The element type of a packed ext type, for messages.
fn packed_name(ty: i8) -> &'static str {
    match ty as u8 {
        b'd' => "f64",
        b'f' => "f32",
        b'q' => "i64",
        b'Q' => "u64",
        b'i' => "i32",
        b'I' => "u32",
        b'h' => "i16",
        b'H' => "u16",
        b'b' => "i8",
        b'B' => "u8",
        _ => "unknown",
    }
}

/// An argument list: what a remote function or actor method's generated
/// caller encodes (a tuple of [`Arg`](crate::Arg)s), written as the
/// MessagePack array the host expects, each argument through
/// [`encode_value`]. Implemented for tuples of up to 16 arguments.
pub trait EncodeArgs {
    /// Append the array to `out`.
    fn encode_args(&self, out: &mut Vec<u8>) -> Result<()>;
}

/// A parameter list: the tuple a remote function or actor method decodes
/// its arguments into, each through [`decode_front`]. Implemented for
/// tuples of up to 16 parameters.
pub trait DecodeArgs: Sized {
    /// Decode the array; `Err` says what is wrong.
    fn decode_args(bytes: &[u8]) -> Result<Self>;

    /// Decode the array from bytes it may keep: the first large `Vec<u8>`
    /// argument becomes the buffer itself (see the module docs).
    fn decode_args_owned(bytes: Vec<u8>) -> Result<Self> {
        Self::decode_args(&bytes)
    }
}

/// The length of the array at the front of `bytes` and what follows its
/// header.
fn array_header(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let (&marker, rest) = bytes.split_first()?;
    match marker {
        0x90..=0x9f => Some(((marker & 0x0f) as usize, rest)),
        0xdc => Some((
            u16::from_be_bytes(rest.get(..2)?.try_into().ok()?) as usize,
            &rest[2..],
        )),
        0xdd => Some((
            u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize,
            &rest[4..],
        )),
        _ => None,
    }
}

impl EncodeArgs for () {
    fn encode_args(&self, out: &mut Vec<u8>) -> Result<()> {
        out.push(0x90);
        Ok(())
    }
}

impl DecodeArgs for () {
    fn decode_args(bytes: &[u8]) -> Result<Self> {
        match bytes.first() {
            Some(0x90 | 0xc0) => Ok(()),
            _ => Err(Error::invalid(
                "expected no arguments (an empty array)".to_string(),
            )),
        }
    }
}

macro_rules! arg_tuples {
    ($( ($n:expr; $($t:ident $v:ident),+) )*) => {$(
        impl<$($t: Serialize + 'static),+> EncodeArgs for ($(crate::Arg<$t>,)+) {
            fn encode_args(&self, out: &mut Vec<u8>) -> Result<()> {
                let ($($v,)+) = self;
                write_array_header(out, $n)?;
                $(
                    match $v {
                        crate::Arg::Value(value) => encode_value(value, out)?,
                        crate::Arg::Ref(r) => crate::write_ref(r.id(), out),
                    }
                )+
                Ok(())
            }
        }

        impl<$($t: DeserializeOwned + 'static),+> DecodeArgs for ($($t,)+) {
            fn decode_args(bytes: &[u8]) -> Result<Self> {
                let Some((len, rest)) = array_header(bytes) else {
                    return Err(Error::invalid("the arguments are not a MessagePack array".to_string()));
                };
                if len != $n {
                    return Err(Error::invalid(format!("expected {} arguments, got {len}", $n)));
                }
                $(let ($v, rest) = decode_front::<$t>(rest)?;)+
                let _ = rest;
                Ok(($($v,)+))
            }

            fn decode_args_owned(bytes: Vec<u8>) -> Result<Self> {
                let Some((len, rest)) = array_header(&bytes) else {
                    return Err(Error::invalid("the arguments are not a MessagePack array".to_string()));
                };
                if len != $n {
                    return Err(Error::invalid(format!("expected {} arguments, got {len}", $n)));
                }
                let mut at = bytes.len() - rest.len();
                let mut take = None;
                $(let $v = arg_at::<$t>(&bytes, &mut at, &mut take)?;)+
                let mut buffer = take.map(|(start, end)| keep_range(bytes, start, end));
                Ok(($(
                    match $v {
                        Some(v) => v,
                        None => from_buffer::<$t>(buffer.take().expect("one argument takes the buffer"))?,
                    },
                )+))
            }
        }
    )*};
}

arg_tuples! {
    (1; A a)
    (2; A a, B b)
    (3; A a, B b, C c)
    (4; A a, B b, C c, D d)
    (5; A a, B b, C c, D d, E e)
    (6; A a, B b, C c, D d, E e, F f)
    (7; A a, B b, C c, D d, E e, F f, G g)
    (8; A a, B b, C c, D d, E e, F f, G g, H h)
    (9; A a, B b, C c, D d, E e, F f, G g, H h, I i)
    (10; A a, B b, C c, D d, E e, F f, G g, H h, I i, J j)
    (11; A a, B b, C c, D d, E e, F f, G g, H h, I i, J j, K k)
    (12; A a, B b, C c, D d, E e, F f, G g, H h, I i, J j, K k, L l)
    (13; A a, B b, C c, D d, E e, F f, G g, H h, I i, J j, K k, L l, M m)
    (14; A a, B b, C c, D d, E e, F f, G g, H h, I i, J j, K k, L l, M m, N n)
    (15; A a, B b, C c, D d, E e, F f, G g, H h, I i, J j, K k, L l, M m, N n, O o)
    (16; A a, B b, C c, D d, E e, F f, G g, H h, I i, J j, K k, L l, M m, N n, O o, P p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Arg, PackedVec};
    use serde::Deserialize;

    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug + 'static>(
        v: T,
    ) -> Vec<u8> {
        let mut bytes = Vec::new();
        encode_value(&v, &mut bytes).unwrap();
        assert_eq!(decode_value::<T>(&bytes).unwrap(), v);
        assert_eq!(value_len(&bytes), Some(bytes.len()));
        bytes
    }

    #[test]
    fn bytes_travel_as_one_bin() {
        let v: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
        let bytes = round_trip(v.clone());
        assert_eq!(bytes[0], BIN32);
        assert_eq!(bytes.len(), 5 + v.len());
        assert_eq!(&bytes[5..], &v[..]);
        // Small ones take the short headers.
        assert_eq!(round_trip(vec![7u8]), [0xc4, 1, 7]);
        assert_eq!(round_trip(Vec::<u8>::new()), [0xc4, 0]);
        assert_eq!(round_trip(vec![1u8; 300])[..3], [0xc5, 1, 44]);
    }

    #[test]
    fn number_vectors_travel_as_ext_of_their_struct_code() {
        let f: Vec<f64> = (0..1000).map(|i| i as f64 * 0.5 - 7.0).collect();
        let bytes = round_trip(f.clone());
        assert_eq!(&bytes[..2], &[0xc8, 0x1f]); // ext16, 8000 bytes
        assert_eq!(bytes[3], b'd');
        assert_eq!(&bytes[4..12], &f[0].to_le_bytes());
        // One element of 8 bytes takes fixext8.
        assert_eq!(round_trip(vec![1i64])[..2], [0xd7, b'q']);
        round_trip(vec![1.5f32, -2.0]);
        round_trip(vec![u64::MAX, 0]);
        round_trip(vec![i32::MIN, 3]);
        round_trip(vec![u32::MAX]);
        round_trip(vec![i16::MIN, 1, 2]);
        round_trip(vec![u16::MAX; 9]);
        round_trip(vec![-1i8; 33]);
        round_trip(Vec::<f64>::new());
    }

    #[test]
    fn strings_and_everything_else_are_plain_messagepack() {
        let s = "héllo ".repeat(10_000);
        let bytes = round_trip(s.clone());
        assert_eq!(bytes, rmp_serde::to_vec_named(&s).unwrap());
        let nested = vec![vec![1u8, 2], vec![3]];
        assert_eq!(
            round_trip(nested.clone()),
            rmp_serde::to_vec_named(&nested).unwrap()
        );
        round_trip((1u8, "x".to_string(), vec![2.5f64]));
        round_trip(Some(vec![1u8, 2]));
        round_trip(std::collections::BTreeMap::from([(1, "a".to_string())]));
    }

    #[test]
    fn the_plain_forms_still_decode() {
        // An array of numbers (another language, `encode`, a struct field).
        let plain = rmp_serde::to_vec_named(&vec![1u8, 200, 3]).unwrap();
        assert_eq!(decode_value::<Vec<u8>>(&plain).unwrap(), [1, 200, 3]);
        let plain = rmp_serde::to_vec_named(&vec![1.5f64, 2.0]).unwrap();
        assert_eq!(decode_value::<Vec<f64>>(&plain).unwrap(), [1.5, 2.0]);
        // A PackedVec's bin.
        let packed = rmp_serde::to_vec_named(&PackedVec(vec![1.5f64, -3.0])).unwrap();
        assert_eq!(decode_value::<Vec<f64>>(&packed).unwrap(), [1.5, -3.0]);
        // And a packed ext read back as a PackedVec.
        let mut ext = Vec::new();
        encode_value(&vec![4i32, 5, 6], &mut ext).unwrap();
        assert_eq!(decode_value::<PackedVec<i32>>(&ext).unwrap().0, [4, 5, 6]);
    }

    #[test]
    fn a_mismatch_is_an_error_naming_both_types() {
        let mut ext = Vec::new();
        encode_value(&vec![4i32, 5], &mut ext).unwrap();
        let e = decode_value::<Vec<f64>>(&ext).unwrap_err();
        assert!(
            e.message.contains("packed i32 values, not f64"),
            "{}",
            e.message
        );
        let e = decode_value::<Vec<i64>>(&[0xc4, 3, 1, 2, 3]).unwrap_err();
        assert!(
            e.message.contains("not a whole number of 8-byte"),
            "{}",
            e.message
        );
        let e = decode_value::<Vec<u8>>(&[0xc6, 0, 0, 1]).unwrap_err();
        assert!(e.message.contains("Vec<u8>"), "{}", e.message);
        assert!(decode_value::<String>(&[0xa2, 0xff, 0xfe]).is_err());
    }

    #[test]
    fn value_len_agrees_with_every_marker() {
        let samples: Vec<Vec<u8>> = vec![
            rmp_serde::to_vec_named(&(1u8, -1i8, 300u16, -300i16, 70_000u32, -70_000i32)).unwrap(),
            rmp_serde::to_vec_named(&(u64::MAX, i64::MIN, 1.5f32, 2.5f64, true, ())).unwrap(),
            rmp_serde::to_vec_named(&"a".repeat(40)).unwrap(),
            rmp_serde::to_vec_named(&"a".repeat(300)).unwrap(),
            rmp_serde::to_vec_named(&"a".repeat(70_000)).unwrap(),
            rmp_serde::to_vec_named(&vec![0u32; 20]).unwrap(),
            rmp_serde::to_vec_named(&vec![0u32; 70_000]).unwrap(),
            rmp_serde::to_vec_named(&std::collections::BTreeMap::from([(1, vec![2])])).unwrap(),
            rmp_serde::to_vec_named(
                &(0..20)
                    .map(|i| (i, i))
                    .collect::<std::collections::BTreeMap<_, _>>(),
            )
            .unwrap(),
            vec![0xd4, 1, 2],
            vec![0xd8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            vec![0xc7, 2, 9, 1, 2],
        ];
        for s in samples {
            assert_eq!(value_len(&s), Some(s.len()), "{s:02x?}");
            // Cut anywhere, it is short.
            for cut in 0..s.len().min(40) {
                assert_eq!(value_len(&s[..cut]), None, "{s:02x?} cut at {cut}");
            }
        }
        assert_eq!(value_len(&[0xc1]), None);
    }

    #[test]
    fn argument_lists_encode_each_argument_packed_and_decode_by_position() {
        let mut bytes = Vec::new();
        let args = (
            Arg::Value(vec![9u8; 3]),
            Arg::Value(2.5f64),
            Arg::Value(vec![1.0f32]),
        );
        args.encode_args(&mut bytes).unwrap();
        assert_eq!(bytes[0], 0x93);
        assert_eq!(&bytes[1..6], &[0xc4, 3, 9, 9, 9]);
        let (a, b, c) = <(Vec<u8>, f64, Vec<f32>)>::decode_args(&bytes).unwrap();
        assert_eq!((a, b, c), (vec![9, 9, 9], 2.5, vec![1.0]));
        // The plain array a tuple serializes to decodes the same.
        let plain = rmp_serde::to_vec_named(&(vec![9u8, 9, 9], 2.5f64, vec![1.0f32])).unwrap();
        assert_eq!(
            <(Vec<u8>, f64, Vec<f32>)>::decode_args(&plain).unwrap(),
            (vec![9, 9, 9], 2.5, vec![1.0])
        );
        let e = <(u8, u8)>::decode_args(&[0x91, 1]).unwrap_err();
        assert!(
            e.message.contains("expected 2 arguments, got 1"),
            "{}",
            e.message
        );
        assert!(<()>::decode_args(&[0x90]).is_ok());
        let mut none = Vec::new();
        ().encode_args(&mut none).unwrap();
        assert_eq!(none, [0x90]);
    }

    #[test]
    fn a_large_byte_argument_takes_the_buffer_in_place() {
        let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7) as u8).collect();
        for first in [true, false] {
            let mut bytes = Vec::new();
            if first {
                (
                    Arg::Value(big.clone()),
                    Arg::Value(5u64),
                    Arg::Value(vec![1u8, 2]),
                )
                    .encode_args(&mut bytes)
                    .unwrap();
            } else {
                (
                    Arg::Value(5u64),
                    Arg::Value(vec![1u8, 2]),
                    Arg::Value(big.clone()),
                )
                    .encode_args(&mut bytes)
                    .unwrap();
            }
            let buffer = bytes.as_ptr();
            if first {
                let (a, n, small) = <(Vec<u8>, u64, Vec<u8>)>::decode_args_owned(bytes).unwrap();
                assert_eq!((&a, n, &small), (&big, 5, &vec![1, 2]));
                assert_eq!(a.as_ptr(), buffer, "the big argument is the buffer");
                // And as a result, it becomes the encoded bytes in place.
                let out = into_bytes(a).unwrap();
                assert_eq!(out.as_ptr(), buffer);
                assert_eq!(decode_owned::<Vec<u8>>(out).unwrap(), big);
            } else {
                let (n, small, a) = <(u64, Vec<u8>, Vec<u8>)>::decode_args_owned(bytes).unwrap();
                assert_eq!((n, &small, &a), (5, &vec![1, 2], &big));
                assert_eq!(a.as_ptr(), buffer);
            }
        }
        // A String the same way; bad UTF-8 is an error, not a panic.
        let text = "ü".repeat(50_000);
        let mut bytes = Vec::new();
        (Arg::Value(1u8), Arg::Value(text.clone()))
            .encode_args(&mut bytes)
            .unwrap();
        let buffer = bytes.as_ptr();
        let (_, s) = <(u8, String)>::decode_args_owned(bytes).unwrap();
        assert_eq!((s.as_ptr(), &s), (buffer, &text));
        let out = into_bytes(s).unwrap();
        assert_eq!(out, rmp_serde::to_vec_named(&text).unwrap());
        assert_eq!(decode_owned::<String>(out).unwrap(), text);
        let mut bad = vec![0x91, 0xdb, 0, 1, 0, 0];
        bad.resize(6 + 65536, 0xff);
        let e = <(String,)>::decode_args_owned(bad).unwrap_err();
        assert!(e.message.contains("String"), "{}", e.message);
        // Small ones are copied; other types hand the value back.
        let mut bytes = Vec::new();
        (Arg::Value(vec![3u8; 10]),)
            .encode_args(&mut bytes)
            .unwrap();
        assert_eq!(
            <(Vec<u8>,)>::decode_args_owned(bytes).unwrap().0,
            vec![3; 10]
        );
        assert_eq!(into_bytes(7u32), Err(7));
        assert_eq!(into_bytes(vec![1u8]).unwrap(), [0xc4, 1, 1]);
        // A plain array still decodes through the owned path.
        let plain = rmp_serde::to_vec_named(&(vec![1u8, 2],)).unwrap();
        assert_eq!(
            <(Vec<u8>,)>::decode_args_owned(plain).unwrap().0,
            vec![1, 2]
        );
    }

    #[test]
    fn struct_fields_pack_with_the_packed_module() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Frame {
            name: String,
            #[serde(with = "crate::packed")]
            pixels: Vec<u8>,
            #[serde(with = "crate::packed")]
            depth: Vec<f32>,
        }
        let f = Frame {
            name: "f".into(),
            pixels: vec![1; 1000],
            depth: vec![0.5; 100],
        };
        let bytes = round_trip(f);
        // 1000 pixels as one bin, 100 floats as one ext: no per-element bytes.
        assert!(bytes.len() < 1000 + 400 + 40, "{}", bytes.len());
        // A field written plainly still reads.
        #[derive(Serialize)]
        struct Plain {
            name: String,
            pixels: Vec<u8>,
            depth: Vec<f32>,
        }
        let plain = rmp_serde::to_vec_named(&Plain {
            name: "p".into(),
            pixels: vec![2, 3],
            depth: vec![1.0],
        })
        .unwrap();
        let back: Frame = decode_value(&plain).unwrap();
        assert_eq!((back.pixels, back.depth), (vec![2, 3], vec![1.0]));
    }
}
