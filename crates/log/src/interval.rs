//! Delta interval strings in table properties (`interval 30 days`,
//! `interval 1 week`, `interval 2 hours 30 minutes`) as milliseconds.

/// Parses an interval property; `None` when it is not a valid interval.
pub fn parse_interval_ms(text: &str) -> Option<i64> {
    let text = text.trim().to_ascii_lowercase();
    let body = text.strip_prefix("interval").unwrap_or(&text).trim();
    let words: Vec<&str> = body.split_whitespace().collect();
    if words.is_empty() || words.len() % 2 != 0 {
        return None;
    }
    let mut total: i64 = 0;
    for pair in words.chunks(2) {
        let n: i64 = pair[0].parse().ok()?;
        let unit_ms: i64 = match pair[1].trim_end_matches('s') {
            "nanosecond" => return Some(total + n / 1_000_000),
            "microsecond" => return Some(total + n / 1_000),
            "millisecond" => 1,
            "second" => 1_000,
            "minute" => 60_000,
            "hour" => 3_600_000,
            "day" => 86_400_000,
            "week" => 7 * 86_400_000,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit_ms)?)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_intervals() {
        assert_eq!(parse_interval_ms("interval 30 days"), Some(30 * 86_400_000));
        assert_eq!(parse_interval_ms("interval 1 week"), Some(7 * 86_400_000));
        assert_eq!(
            parse_interval_ms("INTERVAL 2 hours 30 minutes"),
            Some(9_000_000)
        );
        assert_eq!(parse_interval_ms("interval 0 seconds"), Some(0));
        assert_eq!(parse_interval_ms("30 days"), Some(30 * 86_400_000));
        assert_eq!(parse_interval_ms("interval days"), None);
        assert_eq!(parse_interval_ms("interval 3 fortnights"), None);
        assert_eq!(parse_interval_ms(""), None);
    }
}
