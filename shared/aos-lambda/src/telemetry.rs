//! Logging for the functions. Lambda's advanced logging controls pass the chosen format and level
//! as `AWS_LAMBDA_LOG_FORMAT` and `AWS_LAMBDA_LOG_LEVEL`; JSON lines let CloudWatch Logs Insights
//! query the span fields (tenant, run, step), which never carry inputs, outputs or secrets.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls (tests, warm re-inits) keep the first one.
pub fn init_telemetry() {
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let level = level_from(std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref());
    // RUST_LOG, when set, refines the level per crate (e.g. `aws_smithy_runtime=debug`).
    let filter = EnvFilter::builder().with_default_directive(level.into()).from_env_lossy();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false);
    let _ = if json {
        // The span list carries the runtime's request id next to the record's message, tenant,
        // run and step ids.
        builder.json().with_current_span(false).with_span_list(true).flatten_event(true).try_init()
    } else {
        // CloudWatch stamps every line itself.
        builder.without_time().try_init()
    };
}

/// Lambda's level names; `FATAL` has no tracing equivalent and means errors only.
fn level_from(name: Option<&str>) -> LevelFilter {
    match name.map(str::to_ascii_uppercase).as_deref() {
        Some("TRACE") => LevelFilter::TRACE,
        Some("DEBUG") => LevelFilter::DEBUG,
        Some("WARN") => LevelFilter::WARN,
        Some("ERROR") | Some("FATAL") => LevelFilter::ERROR,
        _ => LevelFilter::INFO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_level_names_map_to_tracing_levels() {
        assert_eq!(level_from(None), LevelFilter::INFO);
        assert_eq!(level_from(Some("debug")), LevelFilter::DEBUG);
        assert_eq!(level_from(Some("FATAL")), LevelFilter::ERROR);
        assert_eq!(level_from(Some("nonsense")), LevelFilter::INFO);
    }
}
