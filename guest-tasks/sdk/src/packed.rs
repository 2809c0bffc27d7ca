//! Packed numeric vectors: [`PackedVec`] and the [`Packable`] element
//! types, written as one MessagePack block; and [`serialize`] and
//! [`deserialize`] for struct fields:
//!
//! `#[serde(with = "raylab_guest::packed")]` on a `Vec<T>` field of numbers
//! (`T` a [`Packable`]: `u8`, `f64`, `i64`, ...) writes it in the packed form
//! that a top-level `Vec<T>` takes ([`codec`]): one block copied at memory
//! speed instead of one MessagePack number per element. It reads that form,
//! a [`PackedVec`]'s and a plain array of numbers.
//!
//! ```
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Frame {
//!     name: String,
//!     #[serde(with = "raylab_guest::packed")]
//!     pixels: Vec<u8>,
//!     #[serde(with = "raylab_guest::packed")]
//!     depth: Vec<f32>,
//! }
//! ```

use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codec;

/// A number type that [`PackedVec`] can hold.
pub trait Packable: Copy + Default + 'static {
    /// Bytes per element.
    const SIZE: usize;
    /// The MessagePack ext type of a packed vector of these: the element's
    /// Python `struct` code (`'d'` for `f64`, ...; see [`codec`]).
    const EXT: i8;
    /// Append the little-endian bytes of `self`.
    fn put_le(self, out: &mut Vec<u8>);
    /// Read one element from exactly `SIZE` little-endian bytes.
    fn get_le(bytes: &[u8]) -> Self;
    /// The little-endian bytes of `xs` without a copy, where the memory
    /// already holds exactly those (a little-endian target).
    fn slice_as_le_bytes(xs: &[Self]) -> Option<&[u8]> {
        let _ = xs;
        None
    }
    /// Append the little-endian bytes of `xs` to `out` (one copy where the
    /// memory already holds them).
    fn extend_le(xs: &[Self], out: &mut Vec<u8>) {
        match Self::slice_as_le_bytes(xs) {
            Some(bytes) => out.extend_from_slice(bytes),
            None => {
                out.reserve(xs.len() * Self::SIZE);
                for &x in xs {
                    x.put_le(out);
                }
            }
        }
    }
    /// The elements whose little-endian bytes `bytes` holds (a whole number
    /// of them).
    fn from_le_bytes_vec(bytes: &[u8]) -> Vec<Self> {
        bytes.chunks_exact(Self::SIZE).map(Self::get_le).collect()
    }
}

macro_rules! packable {
    ($($t:ty = $code:literal),*) => {$(
        impl Packable for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            const EXT: i8 = $code as i8;
            #[inline]
            fn put_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            #[inline]
            fn get_le(bytes: &[u8]) -> Self {
                <$t>::from_le_bytes(bytes.try_into().expect("element size"))
            }
            #[cfg(target_endian = "little")]
            fn from_le_bytes_vec(bytes: &[u8]) -> Vec<Self> {
                let n = bytes.len() / Self::SIZE;
                let mut v = Vec::<$t>::with_capacity(n);
                // SAFETY: `v` has room for `n` elements, which the copy
                // fills from `n * SIZE` bytes of `bytes` (in bounds); every
                // bit pattern is a valid primitive number, and on a
                // little-endian target their bytes are the elements.
                #[allow(unsafe_code)]
                unsafe {
                    std::ptr::copy_nonoverlapping(bytes.as_ptr(), v.as_mut_ptr().cast::<u8>(), n * Self::SIZE);
                    v.set_len(n);
                }
                v
            }
            #[cfg(target_endian = "little")]
            fn slice_as_le_bytes(xs: &[Self]) -> Option<&[u8]> {
                // SAFETY: a primitive number has no padding and every bit
                // pattern is a valid u8; the length covers exactly `xs`,
                // which the result borrows.
                #[allow(unsafe_code)]
                Some(unsafe {
                    std::slice::from_raw_parts(xs.as_ptr().cast::<u8>(), std::mem::size_of_val(xs))
                })
            }
        }
    )*};
}
packable!(
    f64 = b'd',
    f32 = b'f',
    i64 = b'q',
    u64 = b'Q',
    i32 = b'i',
    u32 = b'I',
    i16 = b'h',
    u16 = b'H',
    i8 = b'b',
    u8 = b'B'
);

/// A vector of numbers that travels as one MessagePack `bin` of
/// little-endian elements instead of an array of MessagePack numbers.
/// Encoding and decoding are a copy, so large numeric data (a dataset put
/// once and read by many tasks) moves at memory speed. It dereferences to
/// `Vec<T>`. It also decodes from a plain MessagePack array of numbers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PackedVec<T>(pub Vec<T>);

impl<T> std::ops::Deref for PackedVec<T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.0
    }
}

impl<T> std::ops::DerefMut for PackedVec<T> {
    fn deref_mut(&mut self) -> &mut Vec<T> {
        &mut self.0
    }
}

impl<T> From<Vec<T>> for PackedVec<T> {
    fn from(v: Vec<T>) -> Self {
        PackedVec(v)
    }
}

impl<T> IntoIterator for PackedVec<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<T> FromIterator<T> for PackedVec<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        PackedVec(iter.into_iter().collect())
    }
}

impl<T: Packable> Serialize for PackedVec<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        if let Some(bytes) = T::slice_as_le_bytes(&self.0) {
            return s.serialize_bytes(bytes);
        }
        let mut bytes = Vec::with_capacity(self.0.len() * T::SIZE);
        for &x in &self.0 {
            x.put_le(&mut bytes);
        }
        s.serialize_bytes(&bytes)
    }
}

impl<'de, T: Packable + Deserialize<'de>> Deserialize<'de> for PackedVec<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Packable + Deserialize<'de>> serde::de::Visitor<'de> for V<T> {
            type Value = PackedVec<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    f,
                    "packed little-endian numbers of {} bytes, or an array",
                    T::SIZE
                )
            }
            fn visit_bytes<E: serde::de::Error>(
                self,
                v: &[u8],
            ) -> std::result::Result<Self::Value, E> {
                if !v.len().is_multiple_of(T::SIZE) {
                    return Err(E::custom(format!(
                        "{} bytes is not a whole number of {}-byte elements",
                        v.len(),
                        T::SIZE
                    )));
                }
                Ok(PackedVec(T::from_le_bytes_vec(v)))
            }
            fn visit_byte_buf<E: serde::de::Error>(
                self,
                v: Vec<u8>,
            ) -> std::result::Result<Self::Value, E> {
                self.visit_bytes(&v)
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(
                self,
                d: D,
            ) -> std::result::Result<Self::Value, D::Error> {
                // A packed vector's `ext` (a `Vec<f64>` put or returned
                // as such: see `codec`): its payload is read straight into
                // the vector, with no copy in between.
                struct Ext<T>(PhantomData<T>);
                impl<'de, T: Packable> serde::de::Visitor<'de> for Ext<T> {
                    type Value = Vec<T>;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "a packed vector of {}", std::any::type_name::<T>())
                    }
                    fn visit_seq<A: serde::de::SeqAccess<'de>>(
                        self,
                        mut seq: A,
                    ) -> std::result::Result<Vec<T>, A::Error> {
                        let tag: i8 = seq
                            .next_element()?
                            .ok_or_else(|| serde::de::Error::custom("an ext without its type"))?;
                        if tag != T::EXT {
                            return Err(serde::de::Error::custom(format!(
                                "an ext of type {tag}, not packed {}",
                                std::any::type_name::<T>()
                            )));
                        }
                        let Payload(v) = seq
                            .next_element::<Payload<T>>()?
                            .ok_or_else(|| serde::de::Error::custom("an ext without its data"))?;
                        Ok(v)
                    }
                }
                struct Payload<T>(Vec<T>);
                impl<'de, T: Packable> Deserialize<'de> for Payload<T> {
                    fn deserialize<D: Deserializer<'de>>(
                        d: D,
                    ) -> std::result::Result<Self, D::Error> {
                        struct B<T>(PhantomData<T>);
                        impl<'de, T: Packable> serde::de::Visitor<'de> for B<T> {
                            type Value = Vec<T>;
                            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                                f.write_str("the bytes of a packed vector")
                            }
                            fn visit_bytes<E: serde::de::Error>(
                                self,
                                v: &[u8],
                            ) -> std::result::Result<Vec<T>, E> {
                                codec::unpack(v).map_err(E::custom)
                            }
                        }
                        d.deserialize_bytes(B(PhantomData)).map(Payload)
                    }
                }
                d.deserialize_tuple(2, Ext::<T>(PhantomData)).map(PackedVec)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
                while let Some(x) = seq.next_element()? {
                    out.push(x);
                }
                Ok(PackedVec(out))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// Write `v` packed: a `bin` for bytes, an `ext` for other numbers.
pub fn serialize<T: Packable, S: Serializer>(
    v: &[T],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    struct Raw<'a>(&'a [u8]);
    impl Serialize for Raw<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }
    let owned;
    let bytes = match T::slice_as_le_bytes(v) {
        Some(b) => b,
        None => {
            let mut b = Vec::new();
            T::extend_le(v, &mut b);
            owned = b;
            &owned
        }
    };
    if T::SIZE == 1 && T::EXT == b'B' as i8 {
        s.serialize_bytes(bytes)
    } else {
        s.serialize_newtype_struct(rmp_serde::MSGPACK_EXT_STRUCT_NAME, &(T::EXT, Raw(bytes)))
    }
}

/// Read a vector written by [`serialize`] (or a plain array).
pub fn deserialize<'de, T: Packable + Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<T>, D::Error> {
    PackedVec::<T>::deserialize(d).map(|p| p.0)
}
