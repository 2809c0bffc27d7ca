//! Object references: [`ObjectRef`], how a ref is written into a value
//! (and read back), task arguments by value or by reference ([`Arg`],
//! [`ByRef`]), and reads of part of a packed vector.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::bindings::raylab::runtime::runtime as rt;
use crate::packed::{Packable, PackedVec};
use crate::{Error, OBJECT_REF_EXT, Result, codec, decode, get, get_bytes};

/// A reference to an object in the store: a future result of a remote call
/// or a value [`put`] there. Each `ObjectRef` value owns one reference count
/// on the host: cloning takes another, dropping gives it back, and the host
/// frees an object nobody references.
pub struct ObjectRef<T> {
    pub(crate) id: u64,
    _type: PhantomData<fn() -> T>,
}

impl<T> ObjectRef<T> {
    /// Adopt a reference the caller already owns (as returned by the raw
    /// `submit`/`put` bindings).
    pub fn from_owned_id(id: u64) -> Self {
        ObjectRef {
            id,
            _type: PhantomData,
        }
    }

    /// The object's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// View this reference as one to an object of another type.
    pub fn cast<U>(self) -> ObjectRef<U> {
        let id = self.id;
        std::mem::forget(self);
        ObjectRef::from_owned_id(id)
    }
}

impl<T: DeserializeOwned + 'static> ObjectRef<T> {
    /// Wait for the object and decode it (`ray.get(ref)`).
    pub fn get(&self) -> Result<T> {
        get(self)
    }

    /// Like [`ObjectRef::get`], giving up after `timeout`.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T> {
        codec::decode_owned(get_bytes(self.id, Some(timeout))?)
    }
}

impl<T> ObjectRef<T> {
    /// Cancel the task that produces this object (`ray.cancel`): a waiting
    /// task never runs, a running one is stopped; `get` then fails with
    /// [`ErrorKind::Cancelled`].
    pub fn cancel(&self) -> Result<()> {
        Ok(rt::cancel(self.id)?)
    }
}

impl<T> Clone for ObjectRef<T> {
    fn clone(&self) -> Self {
        // The id is owned by `self`, so the host cannot refuse it.
        let _ = rt::retain(self.id);
        ObjectRef::from_owned_id(self.id)
    }
}

impl<T> Drop for ObjectRef<T> {
    fn drop(&mut self) {
        rt::release(self.id);
    }
}

impl<T> fmt::Debug for ObjectRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectRef({})", self.id)
    }
}

impl<T> PartialEq for ObjectRef<T> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl<T> Eq for ObjectRef<T> {}

struct RefPayload([u8; 8]);

impl Serialize for RefPayload {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

/// Append an object reference's MessagePack form (`fixext 8`, type
/// [`OBJECT_REF_EXT`], the id big-endian) to `out`.
pub(crate) fn write_ref(id: u64, out: &mut Vec<u8>) {
    out.extend_from_slice(&[0xd7, OBJECT_REF_EXT as u8]);
    out.extend_from_slice(&id.to_be_bytes());
}

pub(crate) fn serialize_ref<S: Serializer>(id: u64, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_newtype_struct(
        rmp_serde::MSGPACK_EXT_STRUCT_NAME,
        &(OBJECT_REF_EXT, RefPayload(id.to_be_bytes())),
    )
}

impl<T> Serialize for ObjectRef<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        serialize_ref(self.id, s)
    }
}

/// The id in an object reference's MessagePack form (ext type
/// [`OBJECT_REF_EXT`], an 8-byte big-endian payload), read without taking
/// a reference count.
#[derive(Debug)]
pub(crate) struct RefId(pub(crate) u64);

impl<'de> Deserialize<'de> for RefId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Ext;
        impl<'de> serde::de::Visitor<'de> for Ext {
            type Value = u64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a raylab object reference (MessagePack ext 82)")
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(
                self,
                d: D,
            ) -> std::result::Result<u64, D::Error> {
                let (tag, payload): (i8, serde_bytes_like::Bytes) = Deserialize::deserialize(d)?;
                if tag != OBJECT_REF_EXT || payload.0.len() != 8 {
                    return Err(serde::de::Error::custom("not a raylab object reference"));
                }
                let mut id = [0u8; 8];
                id.copy_from_slice(&payload.0);
                Ok(u64::from_be_bytes(id))
            }
        }
        d.deserialize_newtype_struct(rmp_serde::MSGPACK_EXT_STRUCT_NAME, Ext)
            .map(RefId)
    }
}

impl<'de, T> Deserialize<'de> for ObjectRef<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let RefId(id) = RefId::deserialize(d)?;
        // A decoded reference is a new owned copy: the bytes it came from
        // hold their own count on the host.
        rt::retain(id).map_err(|e| serde::de::Error::custom(Error::from(e)))?;
        Ok(ObjectRef::from_owned_id(id))
    }
}

mod serde_bytes_like {
    //! A byte buffer that deserializes from MessagePack bin / ext payloads.
    use serde::de::{Deserialize, Deserializer, SeqAccess, Visitor};
    use std::fmt;

    pub(crate) struct Bytes(pub(crate) Vec<u8>);

    impl<'de> Deserialize<'de> for Bytes {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Bytes;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_bytes<E>(self, v: &[u8]) -> Result<Bytes, E> {
                    Ok(Bytes(v.to_vec()))
                }
                fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Bytes, E> {
                    Ok(Bytes(v))
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Bytes, A::Error> {
                    let mut out = Vec::new();
                    while let Some(b) = s.next_element::<u8>()? {
                        out.push(b);
                    }
                    Ok(Bytes(out))
                }
            }
            d.deserialize_bytes(V)
        }
    }
}

/// An argument of a remote call: a value, or a reference to one that the
/// host resolves before the task starts (a dependency).
pub enum Arg<T> {
    /// The value itself, sent with the call.
    Value(T),
    /// An object whose value the callee receives.
    Ref(ObjectRef<T>),
}

impl<T> From<T> for Arg<T> {
    fn from(v: T) -> Self {
        Arg::Value(v)
    }
}

impl<T> From<ObjectRef<T>> for Arg<T> {
    fn from(r: ObjectRef<T>) -> Self {
        Arg::Ref(r)
    }
}

impl<T> From<&ObjectRef<T>> for Arg<T> {
    fn from(r: &ObjectRef<T>) -> Self {
        Arg::Ref(r.clone())
    }
}

impl<T: Serialize> Serialize for Arg<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Arg::Value(v) => v.serialize(s),
            Arg::Ref(r) => r.serialize(s),
        }
    }
}

/// A parameter that receives the [`ObjectRef`] itself rather than its value:
/// the host does not resolve it before the task starts, and the task reads
/// what it needs, e.g. a slice of a large [`PackedVec`] with
/// [`ObjectRef::get_range`]. Ray's way of saying the same is to pass a ref
/// nested in a list, and that is how it travels: a one-element array.
///
/// ```ignore
/// #[remote]
/// pub fn head(data: ByRef<PackedVec<f64>>, n: u64) -> Result<Vec<f64>> {
///     data.get_range(0..n as usize)
/// }
/// // The caller passes the ref as usual: `head::remote(&data_ref, 10)`.
/// ```
pub struct ByRef<T>(pub ObjectRef<T>);

impl<T> std::ops::Deref for ByRef<T> {
    type Target = ObjectRef<T>;
    fn deref(&self) -> &ObjectRef<T> {
        &self.0
    }
}

impl<T> fmt::Debug for ByRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ByRef({})", self.0.id)
    }
}

impl<T> From<ObjectRef<T>> for ByRef<T> {
    fn from(r: ObjectRef<T>) -> Self {
        ByRef(r)
    }
}

impl<T> From<&ObjectRef<T>> for Arg<ByRef<T>> {
    fn from(r: &ObjectRef<T>) -> Self {
        Arg::Value(ByRef(r.clone()))
    }
}

impl<T> From<ObjectRef<T>> for Arg<ByRef<T>> {
    fn from(r: ObjectRef<T>) -> Self {
        Arg::Value(ByRef(r))
    }
}

impl<T> Serialize for ByRef<T> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        (&self.0,).serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for ByRef<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let (r,): (ObjectRef<T>,) = Deserialize::deserialize(d)?;
        Ok(ByRef(r))
    }
}

/// The size of the pieces [`ObjectRef::get_into`] reads a big vector in.
pub(crate) const GATHER_PIECE: usize = 256 << 10;

/// The header of a MessagePack `bin` at the start of `head` (its first
/// five bytes or fewer): `(header length, payload length)`, or `None` if
/// `head` does not start with one.
pub(crate) fn bin_header(head: &[u8]) -> Option<(usize, usize)> {
    match *head {
        [0xc4, n, ..] => Some((2, n as usize)),
        [0xc5, a, b, ..] => Some((3, u16::from_be_bytes([a, b]) as usize)),
        [0xc6, a, b, c, d, ..] => Some((5, u32::from_be_bytes([a, b, c, d]) as usize)),
        _ => None,
    }
}

impl<T: Packable + DeserializeOwned> ObjectRef<PackedVec<T>> {
    /// Elements `range` of a packed vector, copying only those bytes into
    /// this sandbox (the rest of the object stays in the store). Waits for
    /// the object like [`get`]. A range outside the vector is an
    /// [`ErrorKind::InvalidArgument`] error.
    pub fn get_range(&self, range: std::ops::Range<usize>) -> Result<Vec<T>> {
        let head = rt::get_range(self.id, 0, 5, None)?;
        let Some((skip, len)) = bin_header(&head) else {
            // Not packed (a plain array of numbers): decode it all.
            let all = self.get()?;
            return all.get(range.clone()).map(<[T]>::to_vec).ok_or_else(|| {
                Error::invalid(format!(
                    "range {range:?} is outside the vector (len {})",
                    all.len()
                ))
            });
        };
        let count = len / T::SIZE;
        if range.start > range.end || range.end > count {
            return Err(Error::invalid(format!(
                "range {range:?} is outside the vector (len {count})"
            )));
        }
        // The range in one host call, then decoded. Reading it in pieces
        // straight into the vector (as `get_into` does) made the read
        // itself faster but Task 2's chunk tasks slower end to end (chunk
        // phase 49-51 -> 55-57 ms, two interleaved runs of 10-12 rounds):
        // the freed buffer is the warm memory the result is then encoded
        // into.
        let bytes = rt::get_range(
            self.id,
            (skip + range.start * T::SIZE) as u64,
            (range.len() * T::SIZE) as u64,
            None,
        )?;
        Ok(bytes.chunks_exact(T::SIZE).map(T::get_le).collect())
    }

    /// Append the whole vector to `out`, decoding its bytes straight into
    /// it: one copy into memory the caller has already (a gather of many
    /// results into one vector; [`get`] would make a vector per result).
    /// A big vector comes in pieces of 256 KiB through one
    /// small buffer: the whole of its bytes is never in this sandbox's
    /// memory besides `out` (fresh memory costs more to touch than to copy
    /// into).
    pub fn get_into(&self, out: &mut Vec<T>) -> Result<()> {
        let head = rt::get_range(self.id, 0, 5, None)?;
        if let Some((skip, len)) = bin_header(&head)
            && len % T::SIZE == 0
            && len >= GATHER_PIECE
        {
            out.reserve(len / T::SIZE);
            let piece = GATHER_PIECE - GATHER_PIECE % T::SIZE;
            let mut at = 0;
            while at < len {
                let n = piece.min(len - at);
                let bytes = rt::get_range(self.id, (skip + at) as u64, n as u64, None)?;
                if bytes.len() != n {
                    return Err(Error::invalid(format!(
                        "object {} changed size while it was read",
                        self.id
                    )));
                }
                out.extend(bytes.chunks_exact(T::SIZE).map(T::get_le));
                at += n;
            }
            return Ok(());
        }
        let bytes = get_bytes(self.id, None)?;
        match bin_header(&bytes) {
            Some((skip, len)) if len % T::SIZE == 0 && bytes.len() >= skip + len => {
                out.extend(bytes[skip..skip + len].chunks_exact(T::SIZE).map(T::get_le));
                Ok(())
            }
            // Not packed (a plain array of numbers).
            _ => {
                let PackedVec::<T>(values) = decode(&bytes)?;
                out.extend(values);
                Ok(())
            }
        }
    }
}
