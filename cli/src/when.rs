//! Times for people: the API's milliseconds since the epoch shown as local time and "how long ago",
//! durations as `1.2 s`, and the time arguments (`--since 2h`, `--until 2026-12-06T10:00`) read
//! back into milliseconds. `--json` never goes through here.

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// `2026-12-06 22:57:35 (3 min ago)` in the local time zone; `-` when absent.
pub fn at(ms: Option<i64>) -> String {
    match ms {
        Some(ms) => format!("{} ({})", absolute(ms), relative(ms, now_ms())),
        None => "-".into(),
    }
}

/// `2026-12-06 22:57:35` in the local time zone.
pub fn absolute(ms: i64) -> String {
    match Local.timestamp_millis_opt(ms).single() {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
        None => ms.to_string(),
    }
}

/// `just now`, `42 s ago`, `3 min ago`, `5 h ago`, `2 d ago`, or `in 4 s` for a time still to come.
pub fn relative(ms: i64, now: i64) -> String {
    let delta = now - ms;
    let span = span(delta.unsigned_abs());
    if delta.abs() < 1000 {
        "just now".into()
    } else if delta > 0 {
        format!("{span} ago")
    } else {
        format!("in {span}")
    }
}

fn span(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=86_399 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

/// A duration for people: `7 ms`, `1.2 s`, `3 min 05 s`, `2 h 10 min`.
pub fn duration(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms} ms"),
        1000..=59_999 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..=3_599_999 => format!("{} min {:02} s", ms / 60_000, (ms / 1000) % 60),
        _ => format!("{} h {:02} min", ms / 3_600_000, (ms / 60_000) % 60),
    }
}

/// Reads a time argument: milliseconds since the epoch (`1796597855909`), an age back from now
/// (`90s`, `15m`, `2h`, `7d`), or a local date and time (`2026-12-06`, `2026-12-06T10:00`,
/// `2026-12-06 10:00:30`) or RFC 3339 (`2026-12-06T10:00:00Z`).
pub fn parse(arg: &str) -> Result<i64, String> {
    parse_at(arg, now_ms())
}

fn parse_at(arg: &str, now: i64) -> Result<i64, String> {
    let v = arg.trim();
    if !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()) {
        return v.parse().map_err(|_| format!("`{v}` is too large"));
    }
    if let Some(unit) = v.chars().last().filter(|c| "smhd".contains(*c)) {
        if let Ok(n) = v[..v.len() - 1].parse::<i64>() {
            let per = match unit {
                's' => 1000,
                'm' => 60_000,
                'h' => 3_600_000,
                _ => 86_400_000,
            };
            return Ok(now - n * per);
        }
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.timestamp_millis());
    }
    let local = |t: NaiveDateTime| Local.from_local_datetime(&t).earliest().map(|t| t.timestamp_millis());
    for f in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
        if let Some(ms) = NaiveDateTime::parse_from_str(v, f).ok().and_then(local) {
            return Ok(ms);
        }
    }
    if let Some(ms) = NaiveDate::parse_from_str(v, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)).and_then(local) {
        return Ok(ms);
    }
    Err(format!(
        "`{v}` is not a time: give an age (`90s`, `15m`, `2h`, `7d`), a date and time (`2026-12-06T10:00`, local; \
         `2026-12-06T10:00:00Z`) or milliseconds since the epoch"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_arguments() {
        let now = 1_796_597_855_909;
        assert_eq!(parse_at("1796597855909", now), Ok(1_796_597_855_909));
        assert_eq!(parse_at("2h", now), Ok(now - 7_200_000));
        assert_eq!(parse_at("15m", now), Ok(now - 900_000));
        assert_eq!(parse_at("2026-12-06T22:57:35Z", now), Ok(1_796_597_855_000));
        assert!(parse_at("2026-12-06", now).is_ok() && parse_at("2026-12-06T10:00", now).is_ok());
        assert!(parse_at("yesterday", now).unwrap_err().contains("`yesterday` is not a time"));
    }

    #[test]
    fn durations_and_ages() {
        assert_eq!(
            (duration(7), duration(1234), duration(185_000), duration(7_800_000)),
            ("7 ms".into(), "1.2 s".into(), "3 min 05 s".into(), "2 h 10 min".into())
        );
        assert_eq!(relative(1000, 1500), "just now");
        assert_eq!(relative(0, 180_000), "3 min ago");
        assert_eq!(relative(10_000, 6_000), "in 4 s");
    }
}
