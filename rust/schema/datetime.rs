//! `format: date-time` checks without a clock or a date library.
//!
//! Strict is RFC 3339 `date-time` as the 2.x specs and the reference validator read it
//! (`T` and `Z` in either case, fraction of any length, offset required, no leap second).
//! Lenient also takes what 1.6 stations send under ISO 8601: no offset, or a space for `T`.

fn digits(bytes: &[u8], at: usize, n: usize) -> Option<u32> {
    let slice = bytes.get(at..at + n)?;
    slice.iter().try_fold(0u32, |acc, b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Returns whether `text` is a valid date-time; `lenient` relaxes offset and separator.
#[must_use]
pub fn is_date_time(text: &str, lenient: bool) -> bool {
    let b = text.as_bytes();
    let (Some(year), Some(month), Some(day)) = (digits(b, 0, 4), digits(b, 5, 2), digits(b, 8, 2)) else {
        return false;
    };
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return false;
    }
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return false;
    }
    match b.get(10) {
        Some(b'T' | b't') => {}
        Some(b' ') if lenient => {}
        _ => return false,
    }
    let (Some(hour), Some(minute), Some(second)) = (digits(b, 11, 2), digits(b, 14, 2), digits(b, 17, 2)) else {
        return false;
    };
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') || hour > 23 || minute > 59 || second > 59 {
        return false;
    }
    let mut at = 19;
    if b.get(at) == Some(&b'.') {
        let start = at + 1;
        at = start;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        if at == start {
            return false;
        }
    }
    match b.get(at) {
        None => lenient,
        Some(b'Z' | b'z') => at + 1 == b.len(),
        Some(b'+' | b'-') => {
            let (Some(oh), Some(om)) = (digits(b, at + 1, 2), digits(b, at + 4, 2)) else {
                return false;
            };
            b.get(at + 3) == Some(&b':') && oh <= 23 && om <= 59 && at + 6 == b.len()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_date_time;

    #[test]
    fn strict_rfc3339() {
        for ok in [
            "2024-01-01T00:00:00Z",
            "2024-02-29T23:59:59.123456+05:30",
            "2024-01-01t00:00:00z",
            "2024-12-31T10:00:00-00:00",
        ] {
            assert!(is_date_time(ok, false), "{ok}");
        }
        for bad in [
            "2024-01-01T00:00:00",
            "2024-01-01 00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:60Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00+0100",
            "2024-01-01T00:00:00Zjunk",
            "",
            "2024-1-01T00:00:00Z",
        ] {
            assert!(!is_date_time(bad, false), "{bad}");
        }
    }

    #[test]
    fn lenient_takes_iso8601_without_offset() {
        assert!(is_date_time("2024-01-01T00:00:00", true));
        assert!(is_date_time("2024-01-01 00:00:00.5", true));
        assert!(!is_date_time("2024-01-01", true));
        assert!(!is_date_time("yesterday", true));
    }
}
