//! Raw flags resolved into validated settings, so commands never re-check their inputs.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use jiff::{Timestamp, tz::TimeZone};
use kir_audit::{TimeSpec, Window};
use kir_cluster::ConnectOptions;

use crate::cli::{GlobalArgs, OutputArg, OutputFormat, TimeArgs};

/// A mistake on the command line: reported with exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// What every command works with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub connect: ConnectOptions,
    pub output: OutputFormat,
    /// `-o` as given: `prepare inventory` also writes markdown, dot and svg (`output` is then
    /// `Table`, and other commands refuse them).
    pub output_arg: OutputArg,
    /// `--case` or `KIR_CASE`: the case folder to record into.
    pub case: Option<PathBuf>,
    /// `--new-case`: a `--case` folder that does not exist yet may be created.
    pub new_case: bool,
    /// When kir started: "contained after N ms" counts from here.
    pub started: Instant,
}

impl Settings {
    pub fn resolve(args: &GlobalArgs) -> Result<Settings, UsageError> {
        let request_timeout = args.request_timeout;
        if let Some(ns) = &args.namespace {
            validate_dns_label(ns).map_err(|why| UsageError(format!("invalid --namespace {ns:?}: {why}")))?;
        }
        Ok(Settings {
            connect: ConnectOptions {
                kubeconfig: args.kubeconfig.clone(),
                context: args.context.clone(),
                namespace: args.namespace.clone(),
                impersonate_user: args.as_user.clone(),
                impersonate_groups: args.as_group.clone(),
                request_timeout,
            },
            output: match args.output {
                OutputArg::Json => OutputFormat::Json,
                OutputArg::Yaml => OutputFormat::Yaml,
                OutputArg::Table
                | OutputArg::Wide
                | OutputArg::Markdown
                | OutputArg::Dot
                | OutputArg::Svg => OutputFormat::Table,
            },
            output_arg: args.output,
            case: args.case.clone(),
            new_case: args.new_case,
            started: Instant::now(),
        })
    }
}

/// Durations of every flag, read by jiff as kubectl writes them (`500ms`, `30s`, `2m`, `1h30m`),
/// or `0`. Run by clap, so a bad value is a usage error naming the flag.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return Err("a unit is missing (ms, s, m or h; examples: 0, 30s, 2m, 1h30m)".into());
    }
    let duration: jiff::SignedDuration =
        text.parse().map_err(|e| format!("not a duration ({e}); examples: 0, 30s, 2m, 1h30m"))?;
    Duration::try_from(duration).map_err(|_| "must not be negative".to_string())
}

/// Sizes as kubectl writes them: a whole number with an optional binary or decimal suffix
/// (`512`, `64Ki`, `64Mi`, `1Gi`, `10M`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| "it does not start with a whole number".to_string())?;
    let factor: u64 = match unit {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "k" | "K" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        other => return Err(format!("unknown unit {other:?} (use Ki, Mi, Gi, k, M or G)")),
    };
    number
        .checked_mul(factor)
        .filter(|n| *n > 0)
        .ok_or_else(|| "must be between 1 byte and 16 EiB (examples: 64Mi, 1Gi)".to_string())
}

/// `--since`/`--until` as a window of instants, and, when a time without a zone was given, the
/// note that says in which zone it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeWindow {
    pub window: Window,
    pub zone_note: Option<String>,
}

/// Resolve the time flags (clap has parsed them with the audit crate's time parser): times
/// without a zone in the local zone, or UTC with `--utc`; times ago from now.
pub fn time_window(args: &TimeArgs, now: Timestamp) -> Result<TimeWindow, UsageError> {
    let zoneless = [args.since, args.until].iter().flatten().any(TimeSpec::needs_zone);
    let (zone, zone_note) = if args.utc {
        (TimeZone::UTC, zoneless.then(|| "times without a zone are read as UTC (--utc)".to_string()))
    } else if zoneless {
        let zone = TimeZone::try_system().map_err(|e| {
            UsageError(format!(
                "the local time zone is unknown ({e}): give --since/--until with an offset (2026-11-27T10:00:00+01:00), or --utc"
            ))
        })?;
        let name = zone.iana_name().map_or_else(|| zone.to_offset(now).to_string(), str::to_string);
        (zone, Some(format!("times without a zone are read as local time ({name}); --utc reads them as UTC")))
    } else {
        (TimeZone::UTC, None)
    };
    let resolve = |flag: &str, spec: Option<TimeSpec>| {
        spec.map(|spec| spec.resolve(now, &zone).map_err(|why| UsageError(format!("invalid {flag}: {why}"))))
            .transpose()
    };
    let window = Window { since: resolve("--since", args.since)?, until: resolve("--until", args.until)? };
    if let (Some(since), Some(until)) = (window.since, window.until)
        && since > until
    {
        return Err(UsageError(format!("--since ({since}) is after --until ({until}): nothing can match")));
    }
    Ok(TimeWindow { window, zone_note })
}

/// A pod named on the command line: `NS/NAME`, or `NAME` in the namespace of `-n` or the
/// context. `default_namespace` is what applies without a prefix.
pub fn pod_ref(
    arg: &str,
    flag_namespace: Option<&str>,
    default_namespace: &str,
) -> Result<(String, String), UsageError> {
    // `pod/NAME`, as `kubectl get -o name` prints it, is the pod NAME.
    let arg = arg.strip_prefix("pod/").or_else(|| arg.strip_prefix("pods/")).unwrap_or(arg);
    let (namespace, name) = match arg.split_once('/') {
        Some((ns, name)) => {
            if let Some(flag) = flag_namespace.filter(|f| *f != ns) {
                return Err(UsageError(format!(
                    "pod {arg:?} names namespace {ns:?} but -n says {flag:?}: give one of them"
                )));
            }
            (ns.to_string(), name.to_string())
        }
        None => (default_namespace.to_string(), arg.to_string()),
    };
    validate_dns_label(&namespace)
        .map_err(|why| UsageError(format!("invalid namespace in pod {arg:?}: {why}")))?;
    let valid_name = !name.is_empty()
        && name.len() <= 253
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !valid_name {
        return Err(UsageError(format!(
            "invalid pod name {name:?}: pod names are lowercase letters, digits, '-' and '.' (give NS/NAME or NAME with -n)"
        )));
    }
    Ok((namespace, name))
}

/// Namespaces are RFC 1123 labels; catching a typo here beats a confusing 404 later.
pub fn validate_dns_label(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 63 {
        return Err("must be 1 to 63 characters".to_string());
    }
    let valid_chars = name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let valid_ends = !name.starts_with('-') && !name.ends_with('-');
    if valid_chars && valid_ends {
        Ok(())
    } else {
        Err("must be lowercase letters, digits and '-', starting and ending with a letter or digit"
            .to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_kubectl() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("30").unwrap_err().contains("unit"));
        assert!(parse_duration("s").unwrap_err().contains("not a duration"));
        assert!(parse_duration("ten seconds").unwrap_err().contains("examples"));
        assert!(parse_duration("-5s").unwrap_err().contains("negative"));
    }

    #[test]
    fn sizes_parse_like_kubectl_quantities() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("64Ki"), Ok(64 << 10));
        assert_eq!(parse_size("64Mi"), Ok(64 << 20));
        assert_eq!(parse_size("1Gi"), Ok(1 << 30));
        assert_eq!(parse_size("10M"), Ok(10_000_000));
        assert!(parse_size("0").is_err());
        assert!(parse_size("Mi").is_err());
        assert!(parse_size("5MB").unwrap_err().contains("unknown unit"));
    }

    #[test]
    fn pods_are_named_like_kubectl() {
        assert_eq!(pod_ref("shop/web-1", None, "default").unwrap(), ("shop".into(), "web-1".into()));
        assert_eq!(pod_ref("web-1", Some("shop"), "shop").unwrap(), ("shop".into(), "web-1".into()));
        assert_eq!(pod_ref("web-1", None, "team").unwrap(), ("team".into(), "web-1".into()));
        assert_eq!(pod_ref("shop/web-1", Some("shop"), "shop").unwrap(), ("shop".into(), "web-1".into()));
        assert!(pod_ref("shop/web-1", Some("prod"), "prod").unwrap_err().to_string().contains("-n says"));
        assert!(pod_ref("shop/Web_1", None, "default").unwrap_err().to_string().contains("invalid pod name"));
        assert!(pod_ref("Shop/web", None, "default").unwrap_err().to_string().contains("invalid namespace"));
        assert!(pod_ref("shop/", None, "default").is_err());
        // As `kubectl get pods -o name` prints them.
        assert_eq!(pod_ref("pod/web-1", Some("shop"), "shop").unwrap(), ("shop".into(), "web-1".into()));
        assert_eq!(pod_ref("pods/web-1", None, "team").unwrap(), ("team".into(), "web-1".into()));
    }

    #[test]
    fn time_flags_resolve_in_the_zone_they_name_and_say_so() {
        let now: Timestamp = "2026-11-27T12:00:00Z".parse().unwrap();
        let args = |since: &str, until: Option<&str>, utc: bool| TimeArgs {
            since: Some(since.parse().unwrap()),
            until: until.map(|u| u.parse().unwrap()),
            utc,
        };
        let utc = time_window(&args("2026-11-27T10:00", Some("2h"), true), now).unwrap();
        assert_eq!(utc.window.since, Some("2026-11-27T10:00:00Z".parse().unwrap()));
        assert_eq!(utc.window.until, Some("2026-11-27T10:00:00Z".parse().unwrap()));
        assert_eq!(utc.zone_note.as_deref(), Some("times without a zone are read as UTC (--utc)"));
        let exact = time_window(&args("2026-11-27T10:00:00+01:00", Some("30m"), false), now).unwrap();
        assert_eq!(exact.window.since, Some("2026-11-27T09:00:00Z".parse().unwrap()));
        assert_eq!(exact.zone_note, None, "nothing was read in a zone");
        let error = time_window(&args("1h", Some("2h"), true), now).unwrap_err();
        assert!(error.to_string().contains("is after --until"), "{error}");
    }

    #[test]
    fn namespaces_must_be_dns_labels() {
        assert!(validate_dns_label("kube-system").is_ok());
        assert!(validate_dns_label("Prod").is_err());
        assert!(validate_dns_label("-a").is_err());
        assert!(validate_dns_label("").is_err());
        assert!(validate_dns_label(&"a".repeat(64)).is_err());
    }
}
