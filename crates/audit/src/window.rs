//! `--since` and `--until`: the one parser of the times every command that filters audit
//! events by time accepts, and the window that keeps the events between them.
//!
//! A time never has its meaning guessed: a time with an offset is that instant; a date and
//! time without one, or a date alone, is read in a zone the caller names (the local zone, or
//! UTC), and the caller says which; anything else is refused with the forms that are read.

use std::{
    fmt,
    str::FromStr,
    sync::atomic::{AtomicU64, Ordering},
};

use jiff::{
    SignedDuration, Span, SpanRelativeTo, Timestamp,
    civil::{Date, DateTime},
    fmt::temporal::Pieces,
    tz::TimeZone,
};

use crate::{Event, Format, Processor};

/// A time as written on the command line, before `now` and the zone give it an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSpec {
    /// RFC 3339 with `Z` or an offset: `2026-11-27T10:00:00Z`, `2026-11-27T11:00+01:00`.
    Instant(Timestamp),
    /// A date and time without a zone: `2026-11-27T10:00`, `2026-11-27 10:00:00`.
    Civil(DateTime),
    /// A date alone: that day from 00:00.
    Date(Date),
    /// A time before now: `90m`, `2h`, `3d`, `1h30m`, `2h ago` (a day is 24 hours).
    Ago(SignedDuration),
}

/// Why a time was refused: what was written and the forms that are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeError {
    pub text: String,
    pub why: String,
}

impl fmt::Display for TimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}; use RFC 3339 (2026-11-27T10:00:00Z, 2026-11-27T11:00:00+01:00), a date and time without zone \
             (2026-11-27T10:00, local time unless --utc), a date (2026-11-27, from 00:00), or a time ago \
             (90m, 2h, 3d)",
            self.why
        )
    }
}

impl std::error::Error for TimeError {}

impl FromStr for TimeSpec {
    type Err = TimeError;

    fn from_str(text: &str) -> Result<TimeSpec, TimeError> {
        let refuse = |why: String| TimeError { text: text.to_string(), why };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(refuse("no time given".into()));
        }
        // Dates start with a four-digit year and a dash; nothing else does.
        let bytes = trimmed.as_bytes();
        if bytes.len() > 4 && bytes[..4].iter().all(u8::is_ascii_digit) && bytes[4] == b'-' {
            return date_or_time(trimmed).map_err(refuse);
        }
        ago(trimmed).map_err(refuse)
    }
}

/// `2026-11-27`, `2026-11-27T10:00`, `2026-11-27 10:00:00`, or either with `Z` or an offset.
fn date_or_time(text: &str) -> Result<TimeSpec, String> {
    let pieces = Pieces::parse(text).map_err(|e| format!("{text:?} is not a date or time ({e})"))?;
    if pieces.offset().is_some() {
        return text
            .parse::<Timestamp>()
            .map(TimeSpec::Instant)
            .map_err(|e| format!("{text:?} is not an RFC 3339 time ({e})"));
    }
    if let Some(zone) = pieces.time_zone_annotation() {
        return Err(format!(
            "{text:?} names a zone ({zone:?}) but no offset: write the offset (2026-11-27T10:00:00+01:00)"
        ));
    }
    Ok(match pieces.time() {
        Some(time) => TimeSpec::Civil(pieces.date().to_datetime(time)),
        None => TimeSpec::Date(pieces.date()),
    })
}

/// `90m`, `2h`, `3d`, `1h30m`, `2h ago`: how long before now.
fn ago(text: &str) -> Result<TimeSpec, String> {
    if text.starts_with(['-', '+']) {
        return Err(format!("{text:?}: a time ago is written without a sign (2h, not -2h)"));
    }
    let span: Span = text.parse().map_err(|_| format!("{text:?} is not a time kir reads"))?;
    if span.get_years() != 0 || span.get_months() != 0 {
        return Err(format!("{text:?}: months and years have no fixed length; give days (90d)"));
    }
    let duration = span
        .to_duration(SpanRelativeTo::days_are_24_hours())
        .map_err(|e| format!("{text:?} is not a duration kir can use ({e})"))?;
    Ok(TimeSpec::Ago(duration.abs()))
}

impl TimeSpec {
    /// Whether the zone decides which instant this is.
    pub fn needs_zone(&self) -> bool {
        matches!(self, TimeSpec::Civil(_) | TimeSpec::Date(_))
    }

    /// The instant: times without an offset are read in `zone`, times ago count back from `now`.
    pub fn resolve(&self, now: Timestamp, zone: &TimeZone) -> Result<Timestamp, String> {
        let civil = |datetime: DateTime, text: String| {
            zone.to_ambiguous_zoned(datetime).unambiguous().map(|z| z.timestamp()).map_err(|_| {
                format!("{text} happens twice, or not at all, in that zone (the clocks change then): give the offset")
            })
        };
        match *self {
            TimeSpec::Instant(time) => Ok(time),
            TimeSpec::Civil(datetime) => civil(datetime, datetime.to_string()),
            TimeSpec::Date(date) => {
                civil(date.to_datetime(jiff::civil::Time::midnight()), format!("{date} 00:00"))
            }
            TimeSpec::Ago(back) => now.checked_sub(back).map_err(|e| format!("{back:#} before now: {e}")),
        }
    }
}

/// The events from `since` to `until`, both included; an open end keeps everything on that side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

impl Window {
    pub fn is_everything(&self) -> bool {
        self.since.is_none() && self.until.is_none()
    }

    pub fn contains(&self, time: Timestamp) -> bool {
        self.since.is_none_or(|since| time >= since) && self.until.is_none_or(|until| time <= until)
    }
}

/// A processor that sees only the events of a window, by the time each request was received
/// (`requestReceivedTimestamp`, else `stageTimestamp`): what `--since`/`--until` mean for
/// every command.
pub struct Windowed<'p, P> {
    inner: &'p P,
    window: Window,
    untimed: AtomicU64,
    outside: AtomicU64,
}

impl<'p, P: Processor> Windowed<'p, P> {
    pub fn new(inner: &'p P, window: Window) -> Windowed<'p, P> {
        Windowed { inner, window, untimed: AtomicU64::new(0), outside: AtomicU64::new(0) }
    }

    /// Events left out because they carry no time that can be read.
    pub fn untimed(&self) -> u64 {
        self.untimed.load(Ordering::Relaxed)
    }

    /// Events read and left out because their time is outside the window.
    pub fn outside(&self) -> u64 {
        self.outside.load(Ordering::Relaxed)
    }

    /// Whether the window leaves anything out at all.
    pub fn is_everything(&self) -> bool {
        self.window.is_everything()
    }
}

impl<P: Processor> Processor for Windowed<'_, P> {
    type Output = P::Output;

    fn output(&self) -> P::Output {
        self.inner.output()
    }

    fn literal(&self) -> Option<&[u8]> {
        self.inner.literal()
    }

    fn event(&self, event: &Event<'_>, raw: Option<&str>, format: Format, out: &mut P::Output) {
        if !self.window.is_everything() {
            match event.received() {
                Some(time) if self.window.contains(time) => {}
                Some(_) => {
                    self.outside.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                None => {
                    self.untimed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
        self.inner.event(event, raw, format, out);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn resolve(text: &str, zone: &str) -> Result<String, String> {
        let zone = TimeZone::get(zone).unwrap();
        let spec: TimeSpec = text.parse().map_err(|e: TimeError| e.to_string())?;
        spec.resolve(at("2026-11-27T12:00:00Z"), &zone).map(|t| t.to_string())
    }

    #[test]
    fn every_form_resolves_to_its_instant() {
        let cases = [
            ("2026-11-27T10:00:00Z", "UTC", "2026-11-27T10:00:00Z"),
            ("2026-11-27T10:00:00+01:00", "UTC", "2026-11-27T09:00:00Z"),
            ("2026-11-27t10:00:00.5z", "UTC", "2026-11-27T10:00:00.5Z"),
            // Without a zone: the zone given decides, to the second; the time of day is kept.
            ("2026-11-27T10:00:00", "UTC", "2026-11-27T10:00:00Z"),
            ("2026-11-27T10:00", "Europe/Paris", "2026-11-27T09:00:00Z"),
            ("2026-07-01 10:30", "Europe/Paris", "2026-07-01T08:30:00Z"),
            ("2026-11-27", "UTC", "2026-11-27T00:00:00Z"),
            ("2026-11-27", "America/New_York", "2026-11-27T05:00:00Z"),
            ("90m", "UTC", "2026-11-27T10:30:00Z"),
            ("2h", "Europe/Paris", "2026-11-27T10:00:00Z"),
            ("3d", "UTC", "2026-11-24T12:00:00Z"),
            ("1h30m", "UTC", "2026-11-27T10:30:00Z"),
            ("2 hours ago", "UTC", "2026-11-27T10:00:00Z"),
            ("1w", "UTC", "2026-11-20T12:00:00Z"),
        ];
        for (text, zone, expected) in cases {
            assert_eq!(resolve(text, zone).as_deref(), Ok(expected), "{text} in {zone}");
        }
    }

    #[test]
    fn anything_else_is_refused_with_the_forms_that_are_read() {
        for text in ["yesterday", "", "10", "-2h", "2026-13-01", "2026-11-27T25:00", "1mo", "1y", "now"] {
            let error = text.parse::<TimeSpec>().unwrap_err().to_string();
            assert!(error.contains("RFC 3339") && error.contains("90m"), "{text}: {error}");
        }
        let error = "2026-11-27T10:00[Europe/Paris]".parse::<TimeSpec>().unwrap_err().to_string();
        assert!(error.contains("no offset"), "{error}");
        // 02:30 happens twice in Paris on 2026-10-25 and not at all on 2026-03-29.
        assert!(resolve("2026-10-25T02:30", "Europe/Paris").unwrap_err().contains("give the offset"));
        assert!(resolve("2026-03-29T02:30", "Europe/Paris").unwrap_err().contains("give the offset"));
    }

    #[test]
    fn windows_include_their_ends() {
        let window =
            Window { since: Some(at("2026-11-27T10:00:00Z")), until: Some(at("2026-11-27T11:00:00Z")) };
        assert!(window.contains(at("2026-11-27T10:00:00Z")) && window.contains(at("2026-11-27T11:00:00Z")));
        assert!(
            !window.contains(at("2026-11-27T09:59:59.999Z"))
                && !window.contains(at("2026-11-27T11:00:00.001Z"))
        );
        assert!(Window::default().contains(at("1970-01-01T00:00:00Z")));
    }

    proptest! {
        /// Whatever is written, parsing gives a time or a refusal naming the accepted forms,
        /// never a panic; and a time kir prints (RFC 3339) reads back as the same instant.
        #[test]
        fn any_text_parses_or_is_refused(text in ".{0,40}") {
            if let Err(e) = text.parse::<TimeSpec>() {
                prop_assert!(e.to_string().contains("RFC 3339"));
            }
        }

        #[test]
        fn printed_instants_read_back(seconds in -62_135_596_800i64..253_402_300_799, nanos in 0i32..1_000_000_000) {
            let time = Timestamp::new(seconds, nanos).unwrap();
            prop_assert_eq!(time.to_string().parse::<TimeSpec>(), Ok(TimeSpec::Instant(time)));
            let civil = TimeZone::UTC.to_datetime(time).to_string();
            prop_assert_eq!(civil.parse::<TimeSpec>().unwrap().resolve(Timestamp::now(), &TimeZone::UTC), Ok(time));
        }

        #[test]
        fn times_ago_count_back_from_now(minutes in 0i64..10_000_000) {
            let now = at("2026-11-27T12:00:00Z");
            let spec: TimeSpec = format!("{minutes}m").parse().unwrap();
            prop_assert_eq!(spec.resolve(now, &TimeZone::UTC).unwrap(), now - SignedDuration::from_mins(minutes));
        }
    }
}
