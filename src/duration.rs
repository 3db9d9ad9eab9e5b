//! Durations as people write them in grant and policy files: `30m`, `2h`,
//! `1d`, `1h30m`.

use std::fmt;
use std::str::FromStr;

use chrono::TimeDelta;

/// The longest access any role may grant: 90 days.
pub const HARD_CAP: GrantDuration = GrantDuration {
    minutes: 90 * 24 * 60,
};

/// A whole number of minutes, at least one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GrantDuration {
    minutes: u64,
}

/// Why a duration was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Empty text.
    #[error("empty duration")]
    Empty,
    /// Not of the form `1d2h30m`.
    #[error("`{0}` is not a duration like 30m, 2h, 1d or 1h30m")]
    Malformed(String),
    /// A zero duration.
    #[error("a duration must be longer than zero")]
    Zero,
    /// Too large to represent.
    #[error("`{0}` is too large")]
    Overflow(String),
}

impl GrantDuration {
    /// One hour.
    pub const ONE_HOUR: GrantDuration = GrantDuration { minutes: 60 };
    /// Fifteen minutes.
    pub const FIFTEEN_MINUTES: GrantDuration = GrantDuration { minutes: 15 };
    /// Twelve hours.
    pub const TWELVE_HOURS: GrantDuration = GrantDuration { minutes: 12 * 60 };

    /// As an ISO 8601 duration (`PT1H30M`), the form AWS APIs take.
    pub fn iso8601(self) -> String {
        let (h, m) = (self.minutes / 60, self.minutes % 60);
        match (h, m) {
            (0, m) => format!("PT{m}M"),
            (h, 0) => format!("PT{h}H"),
            (h, m) => format!("PT{h}H{m}M"),
        }
    }

    /// A duration of `minutes` minutes (`None` for zero).
    pub fn from_minutes(minutes: u64) -> Option<GrantDuration> {
        (minutes > 0).then_some(GrantDuration { minutes })
    }

    /// Whole minutes.
    pub fn minutes(self) -> u64 {
        self.minutes
    }

    /// As a chrono time delta.
    pub fn to_delta(self) -> TimeDelta {
        // HARD_CAP-sized values and far above fit: minutes are parsed with an
        // overflow check into u64, and i64 minutes cover 17 trillion years.
        TimeDelta::try_minutes(self.minutes as i64).unwrap_or(TimeDelta::MAX)
    }

    /// The duration of a time delta, rounded up to whole minutes (`None` for
    /// zero or negative).
    pub fn from_delta(delta: TimeDelta) -> Option<GrantDuration> {
        let secs = delta.num_seconds();
        if secs <= 0 {
            return None;
        }
        Self::from_minutes((secs as u64).div_ceil(60))
    }
}

impl FromStr for GrantDuration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(DurationError::Empty);
        }
        let malformed = || DurationError::Malformed(s.to_string());
        let mut total: u64 = 0;
        let mut rest = s;
        // Units must come in order, each at most once: d, then h, then m.
        let mut allowed = "dhm";
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 || digits > 12 {
                return Err(if digits > 12 {
                    DurationError::Overflow(s.to_string())
                } else {
                    malformed()
                });
            }
            let n: u64 = rest[..digits].parse().map_err(|_| malformed())?;
            let unit = rest[digits..].chars().next().ok_or_else(malformed)?;
            let Some(at) = allowed.find(unit) else {
                return Err(malformed());
            };
            allowed = &allowed[at + 1..];
            let per = match unit {
                'd' => 24 * 60,
                'h' => 60,
                _ => 1,
            };
            total = n
                .checked_mul(per)
                .and_then(|m| total.checked_add(m))
                .ok_or_else(|| DurationError::Overflow(s.to_string()))?;
            rest = &rest[digits + 1..];
        }
        GrantDuration::from_minutes(total).ok_or(DurationError::Zero)
    }
}

impl fmt::Display for GrantDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (d, h, m) = (
            self.minutes / 1440,
            self.minutes % 1440 / 60,
            self.minutes % 60,
        );
        if d > 0 {
            write!(f, "{d}d")?;
        }
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        Ok(())
    }
}

impl serde::Serialize for GrantDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_the_design_names() {
        for (text, minutes) in [
            ("30m", 30),
            ("2h", 120),
            ("1d", 1440),
            ("1h30m", 90),
            ("1d2h3m", 1563),
        ] {
            let d: GrantDuration = text.parse().unwrap();
            assert_eq!(d.minutes(), minutes, "{text}");
            assert_eq!(d.to_string(), text);
        }
        assert_eq!("90m".parse::<GrantDuration>().unwrap().to_string(), "1h30m");
    }

    #[test]
    fn rejects_what_people_get_wrong() {
        for text in [
            "2 hours", "1.5h", "-1h", "h", "2", "2H", "1m1h", "1h1h", "", " 2h", "2h ",
        ] {
            assert!(text.parse::<GrantDuration>().is_err(), "{text:?} parsed");
        }
        assert_eq!("0m".parse::<GrantDuration>(), Err(DurationError::Zero));
        assert_eq!("0h0m".parse::<GrantDuration>(), Err(DurationError::Zero));
        assert!(matches!(
            "99999999999999999999d".parse::<GrantDuration>(),
            Err(DurationError::Overflow(_))
        ));
        // Parses, and is far above the hard cap: the checks say so.
        assert!("99999999d".parse::<GrantDuration>().unwrap() > HARD_CAP);
    }
}
