//! Sizes on the command line (`64M`, `1.5G`, `4096`) and in output
//! (`1.5 GiB`).

/// Parse a size in bytes, with an optional K, M, G or T suffix (powers of
/// 1024; `KB`, `KiB` and `k` are accepted too).
pub fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let (digits, mult) = match s.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let mult: usize = match s[i..]
                .to_ascii_uppercase()
                .trim_end_matches("IB")
                .trim_end_matches('B')
            {
                "" => 1,
                "K" => 1 << 10,
                "M" => 1 << 20,
                "G" => 1 << 30,
                "T" => 1 << 40,
                other => return Err(format!("unknown size suffix `{other}` (use K, M, G or T)")),
            };
            (&s[..i], mult)
        }
        None => (s, 1),
    };
    let n: f64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a size"))?;
    if !n.is_finite() || n < 0.0 {
        return Err(format!("`{s}` is not a size"));
    }
    let bytes = n * mult as f64;
    if bytes >= usize::MAX as f64 {
        return Err(format!("`{s}` is too large"));
    }
    Ok(bytes as usize)
}

/// A byte count for people: `512 B`, `1.5 KiB`, `16.0 MiB`, `7.1 GiB`.
pub fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes;
    let mut unit = 0;
    while v.abs() >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert_eq!(parse_size("2KiB"), Ok(2048));
        assert_eq!(parse_size("1kb"), Ok(1024));
        assert!(parse_size("12X").unwrap_err().contains("suffix"));
        assert!(parse_size("-1M").is_err());
        assert!(parse_size("lots").is_err());
        assert!(
            parse_size("99999999999T")
                .unwrap_err()
                .contains("too large")
        );
    }

    #[test]
    fn bytes_read_as_people_write_them() {
        assert_eq!(human_bytes(512.0), "512 B");
        assert_eq!(human_bytes(1536.0), "1.5 KiB");
        assert_eq!(human_bytes((16u64 << 20) as f64), "16.0 MiB");
        assert_eq!(human_bytes(7_582_819_122.0), "7.1 GiB");
    }
}
