//! UTC days, the unit of the failure partitions: the day number of a time and its `yyyy-mm-dd`
//! label (Howard Hinnant's `civil_from_days`, so no date library is needed).

pub const DAY_MS: i64 = 86_400_000;

/// Days since 1970-01-01 (UTC) of a time in ms.
pub fn day_number(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// `yyyy-mm-dd` of a time in ms.
pub fn day_label(ms: i64) -> String {
    label_of_day(day_number(ms))
}

/// `yyyy-mm-dd` of a day number.
pub fn label_of_day(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_utc_calendar_days() {
        assert_eq!(day_label(0), "1970-01-01");
        assert_eq!(day_label(DAY_MS - 1), "1970-01-01");
        assert_eq!(day_label(951_782_400_000), "2000-02-29");
        assert_eq!(day_label(1_709_251_199_999), "2024-02-29");
        assert_eq!(day_label(1_735_689_600_000), "2025-01-01");
        assert_eq!(day_number(1_735_689_600_000) - day_number(1_735_689_599_999), 1);
    }
}
