//! Just enough MessagePack to find object references inside argument lists
//! and objects, without decoding them. A reference is the extension value of
//! type 82 with an 8-byte big-endian id (`d7 52 <id>`). The scanner is
//! iterative, so hostile nesting cannot overflow the host's stack, and it
//! never trusts a length beyond the buffer.

use std::ops::Range;

use crate::ids::ObjectId;

/// MessagePack extension type of an object reference (`'R'`).
pub(crate) const OBJECT_REF_EXT: i8 = 82;

/// The encoding of a reference to `id`.
#[cfg(test)]
pub(crate) fn encode_ref(id: u64) -> [u8; 10] {
    let mut out = [0u8; 10];
    out[0] = 0xd7;
    out[1] = OBJECT_REF_EXT as u8;
    out[2..].copy_from_slice(&id.to_be_bytes());
    out
}

/// Malformed MessagePack.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed MessagePack at byte {offset}: {what}")]
pub(crate) struct MsgpackError {
    /// Where.
    pub offset: usize,
    /// What.
    pub what: &'static str,
}

fn err(offset: usize, what: &'static str) -> MsgpackError {
    MsgpackError { offset, what }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], MsgpackError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(err(self.pos, "value runs past the end")),
        }
    }
    fn u8(&mut self) -> Result<u8, MsgpackError> {
        Ok(self.take(1)?[0])
    }
    fn be(&mut self, n: usize) -> Result<usize, MsgpackError> {
        let b = self.take(n)?;
        Ok(b.iter().fold(0usize, |acc, &x| (acc << 8) | x as usize))
    }
}

/// Skip one complete value starting at `r.pos`, calling `on_ref` for every
/// object reference inside it.
fn skip_value(r: &mut Reader<'_>, on_ref: &mut dyn FnMut(ObjectId)) -> Result<(), MsgpackError> {
    // Number of values still to skip; containers add their elements.
    let mut pending: usize = 1;
    while pending > 0 {
        pending -= 1;
        let at = r.pos;
        let m = r.u8()?;
        let add = match m {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => 0,
            0x80..=0x8f => 2 * (m & 0x0f) as usize,
            0x90..=0x9f => (m & 0x0f) as usize,
            0xa0..=0xbf => {
                r.take((m & 0x1f) as usize)?;
                0
            }
            0xc4 | 0xd9 => {
                let n = r.be(1)?;
                r.take(n)?;
                0
            }
            0xc5 | 0xda => {
                let n = r.be(2)?;
                r.take(n)?;
                0
            }
            0xc6 | 0xdb => {
                let n = r.be(4)?;
                r.take(n)?;
                0
            }
            0xc7..=0xc9 => {
                let n = r.be(1 << (m - 0xc7))?;
                r.take(1 + n)?;
                0
            }
            0xca | 0xcc..=0xd3 => {
                let n = match m {
                    0xca => 4,
                    0xcb => 8,
                    0xcc | 0xd0 => 1,
                    0xcd | 0xd1 => 2,
                    0xce | 0xd2 => 4,
                    _ => 8,
                };
                r.take(n)?;
                0
            }
            0xcb => {
                r.take(8)?;
                0
            }
            0xd4..=0xd8 => {
                let ty = r.u8()? as i8;
                let data = r.take(1 << (m - 0xd4))?;
                if m == 0xd7 && ty == OBJECT_REF_EXT {
                    on_ref(ObjectId::new(u64::from_be_bytes(
                        data.try_into().expect("8 bytes"),
                    )));
                }
                0
            }
            0xdc | 0xdd => {
                let n = r.be(if m == 0xdc { 2 } else { 4 })?;
                // Every element takes at least one byte: a length larger
                // than what is left is a lie.
                if n > r.buf.len() - r.pos {
                    return Err(err(at, "array longer than the data"));
                }
                n
            }
            0xde | 0xdf => {
                let n = r.be(if m == 0xde { 2 } else { 4 })?;
                if n.saturating_mul(2) > r.buf.len() - r.pos {
                    return Err(err(at, "map longer than the data"));
                }
                2 * n
            }
            0xc1 => return Err(err(at, "reserved marker 0xc1")),
        };
        pending = pending
            .checked_add(add)
            .ok_or(err(at, "too many elements"))?;
    }
    Ok(())
}

/// Every object reference anywhere inside one complete value that fills
/// `buf` exactly.
pub(crate) fn find_refs(buf: &[u8]) -> Result<Vec<ObjectId>, MsgpackError> {
    let mut refs = Vec::new();
    let mut r = Reader { buf, pos: 0 };
    skip_value(&mut r, &mut |id| refs.push(id))?;
    if r.pos != buf.len() {
        return Err(err(r.pos, "trailing bytes after the value"));
    }
    Ok(refs)
}

/// The layout of an argument list: a MessagePack array of positional
/// arguments.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ArgsLayout {
    /// Byte range of each argument.
    pub items: Vec<Range<usize>>,
    /// `(argument index, object id)` of each argument that is exactly a
    /// reference: a dependency, replaced by the object's value before the
    /// call.
    pub top_refs: Vec<(usize, ObjectId)>,
    /// References nested inside arguments: passed through, borrowed.
    pub nested_refs: Vec<ObjectId>,
}

/// Parse an argument list. `nil` is accepted as the empty list.
pub(crate) fn parse_args(buf: &[u8]) -> Result<ArgsLayout, MsgpackError> {
    let mut r = Reader { buf, pos: 0 };
    let m = r.u8()?;
    let n = match m {
        0xc0 => 0,
        0x90..=0x9f => (m & 0x0f) as usize,
        0xdc => r.be(2)?,
        0xdd => r.be(4)?,
        _ => return Err(err(0, "an argument list must be a MessagePack array")),
    };
    if n > buf.len() {
        return Err(err(0, "array longer than the data"));
    }
    let mut layout = ArgsLayout::default();
    for index in 0..n {
        let start = r.pos;
        let mut refs = Vec::new();
        skip_value(&mut r, &mut |id| refs.push(id))?;
        let range = start..r.pos;
        if range.len() == 10 && buf[start] == 0xd7 && buf[start + 1] == OBJECT_REF_EXT as u8 {
            layout.top_refs.push((index, refs[0]));
        } else {
            layout.nested_refs.extend(refs);
        }
        layout.items.push(range);
    }
    if r.pos != buf.len() {
        return Err(err(r.pos, "trailing bytes after the argument list"));
    }
    Ok(layout)
}

fn write_array_header(out: &mut Vec<u8>, n: usize) {
    if n < 16 {
        out.push(0x90 | n as u8);
    } else if n <= u16::MAX as usize {
        out.push(0xdc);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdd);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// Rebuild an argument list with each top-level reference replaced by the
/// encoded value of its object (`values[i]` for `layout.top_refs[i]`).
pub(crate) fn substitute(buf: &[u8], layout: &ArgsLayout, values: &[&[u8]]) -> Vec<u8> {
    let extra: usize = values.iter().map(|v| v.len()).sum();
    let mut out = Vec::with_capacity(buf.len() + extra);
    write_array_header(&mut out, layout.items.len());
    let mut next = layout.top_refs.iter().zip(values).peekable();
    for (index, range) in layout.items.iter().enumerate() {
        match next.peek() {
            Some(((i, _), value)) if *i == index => {
                out.extend_from_slice(value);
                next.next();
            }
            _ => out.extend_from_slice(&buf[range.clone()]),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(items: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        write_array_header(&mut out, items.len());
        for i in items {
            out.extend_from_slice(i);
        }
        out
    }

    #[test]
    fn finds_top_level_and_nested_refs() {
        let r7 = encode_ref(7);
        let mut nested = vec![0x92, 0x01];
        nested.extend_from_slice(&encode_ref(9));
        let buf = args(&[&r7, &[0x2a], &nested]);
        let layout = parse_args(&buf).unwrap();
        assert_eq!(layout.items.len(), 3);
        assert_eq!(layout.top_refs, vec![(0, ObjectId::new(7))]);
        assert_eq!(layout.nested_refs, vec![ObjectId::new(9)]);
        assert_eq!(
            find_refs(&buf).unwrap(),
            vec![ObjectId::new(7), ObjectId::new(9)]
        );
    }

    #[test]
    fn substitutes_values_for_top_level_refs() {
        let buf = args(&[&[0x01], &encode_ref(5), &[0x03]]);
        let layout = parse_args(&buf).unwrap();
        let value = [0x93, 0x01, 0x02, 0x03];
        let out = substitute(&buf, &layout, &[&value]);
        assert_eq!(out, args(&[&[0x01], &value, &[0x03]]));
    }

    #[test]
    fn nil_is_the_empty_argument_list() {
        assert_eq!(parse_args(&[0xc0]).unwrap().items.len(), 0);
        assert_eq!(parse_args(&[0x90]).unwrap().items.len(), 0);
    }

    #[test]
    fn rejects_malformed_input() {
        assert!(parse_args(&[]).is_err());
        assert!(parse_args(&[0x01]).is_err(), "not an array");
        assert!(parse_args(&[0x91]).is_err(), "missing element");
        assert!(parse_args(&[0x91, 0xc4, 0x05, 0x00]).is_err(), "short bin");
        assert!(parse_args(&[0x91, 0xc1]).is_err(), "reserved marker");
        assert!(parse_args(&[0x90, 0x00]).is_err(), "trailing bytes");
        // A huge claimed length must not allocate or loop for ever.
        assert!(parse_args(&[0x91, 0xdd, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(find_refs(&[0xdf, 0xff, 0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn deep_nesting_does_not_recurse() {
        let mut buf = vec![0x91; 1_000_000];
        buf.push(0xc0);
        assert_eq!(find_refs(&buf).unwrap(), Vec::<ObjectId>::new());
    }

    #[test]
    fn skips_every_scalar_kind() {
        let value = [
            0xdc, 0x00, 0x11, // array of 17
            0xc0, 0xc2, 0xc3, 0x7f, 0xe0, // nil false true fixints
            0xcc, 0x01, 0xcd, 0x00, 0x01, 0xce, 0, 0, 0, 1, 0xcf, 0, 0, 0, 0, 0, 0, 0,
            1, // uints
            0xca, 0, 0, 0, 0, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0, // floats
            0xa1, b'x', 0xd9, 0x01, b'y', // strings
            0xc4, 0x01, 0x00, // bin
            0xd4, 0x01, 0x00, // fixext1
            0xc7, 0x01, 0x02, 0x00, // ext8
            0x80, // empty map
        ];
        assert_eq!(find_refs(&value).unwrap(), Vec::<ObjectId>::new());
    }

    /// How many inputs the fuzz tests try: a bounded number in CI, more
    /// with `RAYLAB_FUZZ_ITERATIONS` (see BENCHMARKS.md, reliability).
    fn iterations(default: usize) -> usize {
        std::env::var("RAYLAB_FUZZ_ITERATIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    /// The lab helpers' SplitMix64, with the bounded draw these tests use.
    struct Rng(raylab_labkit::rng::SplitMix64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0.next_u64()
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
    }

    /// A random well-formed MessagePack value, with references in it.
    fn value(rng: &mut Rng, out: &mut Vec<u8>, depth: u32) {
        match rng.below(if depth > 4 { 8 } else { 11 }) {
            0 => out.push(0xc0),
            1 => out.push(rng.below(128) as u8),
            2 => {
                out.push(0xcf);
                out.extend_from_slice(&rng.next().to_be_bytes());
            }
            3 => {
                out.push(0xcb);
                out.extend_from_slice(&rng.next().to_be_bytes());
            }
            4 => {
                let n = rng.below(40) as usize;
                out.push(0xd9);
                out.push(n as u8);
                out.extend((0..n).map(|_| b'a' + rng.below(26) as u8));
            }
            5 => {
                let n = rng.below(300) as usize;
                out.push(0xc5);
                out.extend_from_slice(&(n as u16).to_be_bytes());
                out.extend((0..n).map(|_| rng.next() as u8));
            }
            6 | 7 => out.extend_from_slice(&encode_ref(rng.below(1000) + 1)),
            8 => {
                let n = rng.below(6);
                out.push(0x90 | n as u8);
                for _ in 0..n {
                    value(rng, out, depth + 1);
                }
            }
            9 => {
                let n = rng.below(4);
                out.push(0x80 | n as u8);
                for _ in 0..2 * n {
                    value(rng, out, depth + 1);
                }
            }
            _ => {
                // An extension that is not a reference.
                out.extend_from_slice(&[0xd6, 7]);
                out.extend_from_slice(&(rng.next() as u32).to_be_bytes());
            }
        }
    }

    #[test]
    fn fuzz_argument_lists_parse_or_fail_cleanly_and_substitution_keeps_the_refs() {
        let mut rng = Rng(raylab_labkit::rng::SplitMix64::new(0x5eed));
        let (mut parsed, mut refused) = (0usize, 0usize);
        for _ in 0..iterations(20_000) {
            let mut buf = Vec::new();
            let n = rng.below(8);
            buf.push(0x90 | n as u8);
            for _ in 0..n {
                value(&mut rng, &mut buf, 0);
            }
            // Half the inputs are damaged: bytes flipped, cut or added.
            if rng.below(2) == 0 {
                match rng.below(3) {
                    0 => {
                        let i = rng.below(buf.len() as u64) as usize;
                        buf[i] ^= 1 << rng.below(8);
                    }
                    1 => buf.truncate(rng.below(buf.len() as u64) as usize),
                    _ => buf.push(rng.next() as u8),
                }
            }
            let Ok(layout) = parse_args(&buf) else {
                refused += 1;
                continue;
            };
            parsed += 1;
            // Every reference is found, top-level or nested.
            let mut all: Vec<ObjectId> = layout.top_refs.iter().map(|(_, id)| *id).collect();
            all.extend(&layout.nested_refs);
            let mut found = find_refs(&buf).expect("a parsed list is a value");
            all.sort_unstable();
            found.sort_unstable();
            assert_eq!(all, found, "{buf:02x?}");
            // Substituting values for the dependencies leaves a list of the
            // same length with only the nested references in it.
            let values: Vec<&[u8]> = layout.top_refs.iter().map(|_| &[0x2a][..]).collect();
            let out = substitute(&buf, &layout, &values);
            let again = parse_args(&out).expect("substitution keeps a valid list");
            assert_eq!(again.items.len(), layout.items.len());
            assert!(again.top_refs.is_empty());
            assert_eq!(again.nested_refs, layout.nested_refs);
        }
        assert!(
            parsed > 0 && refused > 0,
            "{parsed} parsed, {refused} refused"
        );
    }

    #[test]
    fn fuzz_random_bytes_never_panic() {
        let mut rng = Rng(raylab_labkit::rng::SplitMix64::new(7));
        for _ in 0..iterations(20_000) {
            let len = rng.below(64) as usize;
            let buf: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let _ = parse_args(&buf);
            let _ = find_refs(&buf);
        }
    }
}
