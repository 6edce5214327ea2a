//! X-Ray: the run an SQS record was about, on the invocation's trace. With `Tracing: Active` Lambda
//! records a segment per invocation but knows nothing of AOS's ids, so for each record about a run
//! the consumer sends the X-Ray daemon a subsegment of that segment annotated with the tenant, run
//! id and step: the console's trace search then finds a run's invocations with
//! `annotation.run_id = "<run id>"`. There is no X-Ray SDK for Rust; the daemon takes a UDP
//! datagram of a header line and the segment document (X-Ray developer guide, "Sending segment
//! documents to the X-Ray daemon"), which is all this does. Nothing is sent when the invocation is
//! not sampled, outside Lambda (no trace header), or for a record that names no run. The API
//! functions do the same for each request about a run (`api_request`: the run in the path, or the
//! run a submission, rerun or redrive created), annotated with the run, the tenant when the
//! authorizer passed it on, the method and the status (`crate::api`).

use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// The trace header Lambda's runtime client sets for each invocation (`Root=…;Parent=…;Sampled=1`).
const TRACE_ENV: &str = "_X_AMZN_TRACE_ID";
/// Where the daemon listens (Lambda sets it; `udp:host:port tcp:host:port` or `host:port`).
const DAEMON_ENV: &str = "AWS_XRAY_DAEMON_ADDRESS";
/// Longest id value annotated (X-Ray takes 1,000 characters; AOS ids are far shorter).
const MAX_VALUE: usize = 256;

/// The sampled invocation's trace: its root and the Lambda function segment to hang under.
#[derive(Debug, PartialEq)]
struct Trace {
    root: String,
    parent: String,
}

/// `Root=…;Parent=…;Sampled=1`, or None when a part is missing or the trace is not sampled.
fn parse_header(header: &str) -> Option<Trace> {
    let (mut root, mut parent, mut sampled) = (None, None, false);
    for part in header.split(';') {
        match part.trim().split_once('=') {
            Some(("Root", v)) => root = Some(v.to_string()),
            Some(("Parent", v)) => parent = Some(v.to_string()),
            Some(("Sampled", v)) => sampled = v == "1",
            _ => {}
        }
    }
    (sampled && root.is_some() && parent.is_some()).then(|| Trace { root: root.unwrap_or_default(), parent: parent.unwrap_or_default() })
}

/// The UDP address of `AWS_XRAY_DAEMON_ADDRESS`.
fn daemon_address(value: &str) -> Option<String> {
    let udp = value.split_whitespace().find_map(|p| p.strip_prefix("udp:")).or_else(|| (!value.contains(' ')).then_some(value));
    udp.map(str::trim).filter(|a| !a.is_empty()).map(str::to_string)
}

/// The ids of a queue message (an `Advance` or a step task); anything else is ignored.
#[derive(Deserialize)]
struct Ids {
    tenant: Option<String>,
    run_id: Option<String>,
    step_id: Option<String>,
    attempt: Option<u64>,
}

/// A subsegment of the sampled invocation's segment, annotated, sent to the daemon when it
/// finishes: [`Subsegment::begin`] before the work, [`Subsegment::finish`] after it.
pub struct Subsegment {
    name: &'static str,
    trace: Trace,
    daemon: String,
    annotations: Map<String, Value>,
    start: f64,
}

impl Subsegment {
    /// Starts a subsegment named `name`, when the invocation is sampled and a daemon is configured.
    pub fn begin(name: &'static str) -> Option<Subsegment> {
        let trace = parse_header(&std::env::var(TRACE_ENV).ok()?)?;
        let daemon = daemon_address(&std::env::var(DAEMON_ENV).ok()?)?;
        Some(Subsegment { name, trace, daemon, annotations: Map::new(), start: now() })
    }

    /// Annotates a string (cut to 256 characters).
    pub fn annotate(&mut self, key: &str, value: &str) {
        self.annotations.insert(key.into(), json!(value.chars().take(MAX_VALUE).collect::<String>()));
    }

    /// Annotates a number.
    pub fn annotate_number(&mut self, key: &str, value: u64) {
        self.annotations.insert(key.into(), json!(value));
    }

    /// Sends the subsegment (`error` when the work failed). A send that fails is logged at debug
    /// level: tracing never fails the work.
    pub fn finish(self, error: bool) {
        let document = json!({
            "name": self.name,
            "id": segment_id(),
            "trace_id": self.trace.root,
            "parent_id": self.trace.parent,
            "type": "subsegment",
            "start_time": self.start,
            "end_time": now(),
            "error": error,
            "annotations": self.annotations,
        });
        let datagram = format!("{{\"format\":\"json\",\"version\":1}}\n{document}");
        let sent = std::net::UdpSocket::bind("0.0.0.0:0").and_then(|s| s.send_to(datagram.as_bytes(), self.daemon.as_str()));
        if let Err(e) = sent {
            tracing::debug!(error = %e, name = self.name, "could not send an X-Ray subsegment");
        }
    }
}

/// One record's subsegment (`sqs_record`), from its start: [`RecordTrace::start`] before the
/// handler, [`RecordTrace::finish`] after it.
pub struct RecordTrace(Subsegment);

impl RecordTrace {
    /// Starts the subsegment of a record whose body names a run, when the invocation is sampled
    /// and a daemon is configured.
    pub fn start(body: &str) -> Option<RecordTrace> {
        let mut segment = Subsegment::begin("sqs_record")?;
        let ids: Ids = serde_json::from_str(body).ok()?;
        let run_id = ids.run_id.filter(|r| !r.is_empty())?;
        segment.annotate("run_id", &run_id);
        if let Some(tenant) = ids.tenant {
            segment.annotate("tenant", &tenant);
        }
        if let Some(step) = ids.step_id {
            segment.annotate("step_id", &step);
        }
        if let Some(attempt) = ids.attempt {
            segment.annotate_number("attempt", attempt);
        }
        Some(RecordTrace(segment))
    }

    /// Sends the subsegment (`error` when SQS must deliver the record again).
    pub fn finish(self, error: bool) {
        self.0.finish(error)
    }
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default()
}

/// 16 hexadecimal digits, random, as X-Ray wants a segment id.
fn segment_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trace_header_must_be_sampled_and_whole() {
        let t = parse_header("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1");
        assert_eq!(t, Some(Trace { root: "1-5759e988-bd862e3fe1be46a994272793".into(), parent: "53995c3f42cd8ad8".into() }));
        assert_eq!(parse_header("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0"), None);
        assert_eq!(parse_header("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"), None);
        assert_eq!(parse_header(""), None);
    }

    #[test]
    fn the_daemon_address_is_its_udp_part() {
        assert_eq!(daemon_address("169.254.79.129:2000").as_deref(), Some("169.254.79.129:2000"));
        assert_eq!(daemon_address("tcp:127.0.0.1:2000 udp:127.0.0.2:2001").as_deref(), Some("127.0.0.2:2001"));
        assert_eq!(daemon_address("tcp:127.0.0.1:2000 tcp:127.0.0.1:2001"), None);
        assert_eq!(daemon_address(""), None);
    }
}
