//! Human durations as QA writes them: `500ms`, `12s`, `1.5s`, `10m`, `2h`, `1m30s`.

use std::time::Duration;

/// Parses a duration; the error says what was wrong and what is accepted. Decimal fractions
/// are exact to the nanosecond (`0.1s` is 100 ms, not the nearest binary fraction), so a
/// duration written by [`format_duration`] reads back unchanged.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration; write e.g. 500ms, 12s, 10m or 1h".into());
    }
    let mut total_nanos: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return Err(format!(
                "'{text}' is not a duration: expected a number at '{rest}' (e.g. 500ms, 12s, 10m, 1h)"
            ));
        }
        let number = &rest[..number_len];
        let not_a_number = || format!("'{text}' is not a duration: '{number}' is not a number");
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
            return Err(not_a_number());
        }
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit: u128 = match &rest[..unit_len] {
            "ns" => 1,
            "us" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" | "min" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => {
                return Err(format!(
                    "'{text}' has no unit: write e.g. {number}s or {number}ms"
                ));
            }
            other => {
                return Err(format!(
                    "'{text}': unknown unit '{other}' (use ms, s, m or h)"
                ));
            }
        };
        let too_long = || format!("'{text}' is too long a duration");
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| too_long())?
        };
        // Exact: whole·unit + fraction·unit / 10^digits (digits past 18 are dropped, far
        // below a nanosecond even in hours), rounded towards zero.
        let fraction = &fraction[..fraction.len().min(18)];
        let digits: u128 = if fraction.is_empty() {
            0
        } else {
            fraction.parse().map_err(|_| not_a_number())?
        };
        let part = whole.checked_mul(nanos_per_unit).ok_or_else(too_long)?
            + digits * nanos_per_unit / 10u128.pow(fraction.len() as u32);
        total_nanos = total_nanos.checked_add(part).ok_or_else(too_long)?;
        rest = &rest[unit_len..];
    }
    if total_nanos > 1_000_000_000 * 1_000_000_000 {
        return Err(format!("'{text}' is too long a duration"));
    }
    Ok(Duration::new(
        (total_nanos / 1_000_000_000) as u64,
        (total_nanos % 1_000_000_000) as u32,
    ))
}

/// A duration as a scenario file writes it, exactly: `8m`, `90s`, `500ms`, `1.5s`, `250us`.
pub fn format_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    const SECOND: u128 = 1_000_000_000;
    if nanos == 0 {
        return "0s".into();
    }
    if nanos.is_multiple_of(60 * SECOND) {
        return format!("{}m", nanos / (60 * SECOND));
    }
    if nanos.is_multiple_of(SECOND) {
        return format!("{}s", nanos / SECOND);
    }
    if nanos < SECOND {
        return match nanos {
            n if n.is_multiple_of(1_000_000) => format!("{}ms", n / 1_000_000),
            n if n.is_multiple_of(1_000) => format!("{}us", n / 1_000),
            n => format!("{n}ns"),
        };
    }
    let fraction = format!("{:09}", nanos % SECOND);
    format!("{}.{}s", nanos / SECOND, fraction.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_usual_forms() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("12s"), Ok(Duration::from_secs(12)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
    }

    #[test]
    fn decimal_fractions_are_exact() {
        assert_eq!(parse_duration("0.1s"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("12.345s"), Ok(Duration::from_millis(12_345)));
        assert_eq!(parse_duration("0.001ms"), Ok(Duration::from_micros(1)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
    }

    #[test]
    fn formatted_durations_read_back_unchanged() {
        for nanos in [
            0u64,
            1,
            999,
            1_000,
            2_000_000,
            500_000_000,
            1_500_000_000,
            12_345_000_000,
            12_345_678_901,
            60_000_000_000,
            90_000_000_000,
            480_000_000_000,
            3_600_000_000_001,
        ] {
            let d = Duration::from_nanos(nanos);
            assert_eq!(
                parse_duration(&format_duration(d)),
                Ok(d),
                "{}",
                format_duration(d)
            );
        }
        assert_eq!(format_duration(Duration::from_secs(480)), "8m");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
    }

    #[test]
    fn rejects_with_a_reason() {
        assert!(parse_duration("").unwrap_err().contains("empty"));
        assert!(parse_duration("10").unwrap_err().contains("no unit"));
        assert!(
            parse_duration("10x")
                .unwrap_err()
                .contains("unknown unit 'x'")
        );
        assert!(
            parse_duration("s")
                .unwrap_err()
                .contains("expected a number")
        );
        assert!(
            parse_duration("1.2.3s")
                .unwrap_err()
                .contains("not a number")
        );
    }
}
