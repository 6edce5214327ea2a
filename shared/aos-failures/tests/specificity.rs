//! The most specific rule wins: the cases the predecessor's substring matcher got wrong, and the
//! ordering of structured evidence, generic entries and patterns.

mod common;

use aos_failures::{Category, FailureInput, MatchType};
use common::matcher;

fn code_of(input: FailureInput<'_>) -> String {
    matcher().classify(&input).code().unwrap_or("<none>").to_string()
}

fn code(message: &str) -> String {
    code_of(FailureInput::message(message))
}

#[test]
fn gateway_timeout_is_not_a_generic_timeout() {
    assert_eq!(code("504 Gateway Timeout"), "HTTP_GATEWAY_TIMEOUT");
    assert_eq!(code("<html><head><title>504 Gateway Time-out</title></head></html>"), "HTTP_GATEWAY_TIMEOUT");
    assert_eq!(code("request timed out"), "HTTP_TIMEOUT");
    assert_eq!(code("Get \"https://x.example\": net/http: TLS handshake timeout"), "HTTP_CONNECT_TIMEOUT");
}

#[test]
fn a_403_inside_an_id_is_not_a_status() {
    for m in [
        "job 7f403ab2-91c4-4e1b-b403-0c5d2e9f4031 failed: connection reset by peer",
        "order ord_4031 could not be saved",
        "request id 8f403a2b9c: upstream returned an unexpected payload",
    ] {
        let r = matcher().classify_message(m);
        assert_ne!(r.code(), Some("HTTP_FORBIDDEN"), "{m} -> {:?}", r.code());
        assert!(!r.normalized.contains("403"), "{}", r.normalized);
    }
    assert_eq!(code("request failed with status code 403"), "HTTP_FORBIDDEN");
}

#[test]
fn realistic_messages_the_naive_matcher_missed() {
    let cases = [
        ("An error occurred (ProvisionedThroughputExceededException) when calling the PutItem operation: The level of configured provisioned throughput for the table was exceeded.", "DYNAMODB_THROUGHPUT_EXCEEDED"),
        ("550 5.1.1 <jdoe@example.com>: Recipient address rejected: User unknown in virtual mailbox table", "SMTP_USER_UNKNOWN"),
        ("550 Requested action not taken: mailbox unavailable", "SMTP_MAILBOX_UNAVAILABLE"),
        ("expected value at line 1 column 1", "JSON_SYNTAX_ERROR"),
        ("Expecting value: line 1 column 1 (char 0)", "JSON_SYNTAX_ERROR"),
        ("EOF while parsing a value at line 1 column 0", "JSON_UNEXPECTED_EOF"),
        ("curl: (60) SSL certificate problem: certificate has expired", "TLS_CERT_EXPIRED"),
        ("invalid peer certificate: UnknownIssuer", "TLS_CERT_UNTRUSTED"),
        ("{\"ok\":false,\"error\":\"ratelimited\"}", "SLACK_RATE_LIMITED"),
        ("{\"ok\":false,\"error\":\"channel_not_found\"}", "SLACK_CHANNEL_NOT_FOUND"),
    ];
    for (message, want) in cases {
        assert_eq!(code(message), want, "{message}");
    }
}

#[test]
fn specific_detail_refines_a_generic_code_or_status() {
    // HTTP 400 is generic; DynamoDB reports throttling as a 400 with the code in the body.
    let body = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ThrottlingException\",\"message\":\"Rate of requests exceeds the allowed throughput.\"}";
    assert_eq!(code_of(FailureInput::message(body).with_code("HTTP_400")), "AWS_THROTTLING");
    // HTTP_CONNECT_ERROR is generic; the cause in the message names the precise failure.
    let refused =
        "request to https://a.example/ lost or could not open its connection: tcp connect error: Connection refused (os error 111)";
    assert_eq!(code_of(FailureInput::message(refused).with_code("HTTP_CONNECT_ERROR")), "CONNECTION_REFUSED");
    // ValidationException is generic; an oversized item is a resource problem.
    let big = "Item size has exceeded the maximum allowed size";
    assert_eq!(code_of(FailureInput::message(big).with_aws_code("ValidationException")), "AWS_ITEM_TOO_LARGE");
    // A 403 that is GitHub's rate limit.
    let gh = "API rate limit exceeded for 203.0.113.9.";
    assert_eq!(code_of(FailureInput::message(gh).with_http_status(403)), "HTTP_TOO_MANY_REQUESTS");
}

/// Statuses whose entry has `generic_status` (405, 409, 410, 422, 429) are refined by the body;
/// the entry's own phrasing still wins when nothing more specific is said.
#[test]
fn a_refinable_status_yields_to_the_body() {
    let daily = "{\"status\":\"error\",\"message\":\"You have reached your daily limit.\",\"policyName\":\"DAILY\"}";
    assert_eq!(code_of(FailureInput::message(daily).with_http_status(429)), "QUOTA_EXHAUSTED");
    assert_eq!(code_of(FailureInput::message("Reference already exists").with_code("HTTP_422")), "HTTP_CONFLICT");
    assert_eq!(
        code_of(FailureInput::message("Head branch was modified. Review and try the merge again.").with_http_status(409)),
        "CONCURRENT_UPDATE_CONFLICT"
    );
    let plain = matcher().classify(&FailureInput::message("https://a.example/ answered HTTP 429 Too Many Requests").with_code("HTTP_429"));
    assert_eq!(plain.code(), Some("HTTP_TOO_MANY_REQUESTS"));
    assert_eq!(code_of(FailureInput::message("").with_code("HTTP_429")), "HTTP_TOO_MANY_REQUESTS");
    assert_eq!(code_of(FailureInput::message("").with_code("HTTP_409")), "HTTP_CONFLICT");
}

#[test]
fn structured_evidence_beats_message_text() {
    let r = matcher().classify(&FailureInput::message("connection refused").with_code("STEP_TIMEOUT"));
    assert_eq!((r.code(), r.match_type), (Some("STEP_TIMEOUT"), MatchType::StructuredCode));
    let r = matcher().classify(&FailureInput::message("Bad Request").with_http_status(400).with_aws_code("ThrottlingException"));
    assert_eq!((r.code(), r.match_type), (Some("AWS_THROTTLING"), MatchType::AwsCode));
    let r = matcher().classify(&FailureInput::message("").with_smtp_code("550 5.1.1"));
    assert_eq!((r.code(), r.match_type), (Some("SMTP_USER_UNKNOWN"), MatchType::SmtpCode));
    let r = matcher().classify(&FailureInput::message("").with_os_kind("ConnectionReset"));
    assert_eq!((r.code(), r.match_type), (Some("CONNECTION_RESET"), MatchType::OsError));
    let r =
        matcher().classify(&FailureInput::message("").with_aws_code("com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"));
    assert_eq!(r.code(), Some("DYNAMODB_CONDITIONAL_CHECK_FAILED"));
}

#[test]
fn statuses_exact_then_narrowest_range() {
    let status = |s: u16| code_of(FailureInput::message("").with_http_status(s));
    assert_eq!(status(503), "HTTP_SERVICE_UNAVAILABLE");
    assert_eq!(status(522), "CLOUDFLARE_ORIGIN_ERROR");
    assert_eq!(status(418), "HTTP_CLIENT_ERROR");
    assert_eq!(status(599), "HTTP_SERVER_ERROR");
    assert_eq!(code_of(FailureInput::message("x").with_code("HTTP_502")), "HTTP_BAD_GATEWAY");
    assert_eq!(code("curl: (22) The requested URL returned error: 410"), "HTTP_GONE");
}

#[test]
fn confidence_follows_the_kind_of_evidence() {
    let structured = matcher().classify(&FailureInput::message("").with_code("STEP_TIMEOUT")).confidence;
    let phrase = matcher().classify_message("The level of configured provisioned throughput for the table was exceeded").confidence;
    let keyword = matcher().classify_message("unauthorized").confidence;
    assert!(structured >= 0.95, "{structured}");
    assert!(structured > phrase && phrase > keyword, "{structured} {phrase} {keyword}");
    let none = matcher().classify_message("everything went fine");
    assert!(!none.matched && none.entry.is_none() && none.confidence == 0.0 && none.match_type == MatchType::None);
}

#[test]
fn categories_and_retry_hints_come_from_the_entry() {
    let r = matcher().classify_message("Error: getaddrinfo EAI_AGAIN api.example.com");
    assert_eq!((r.category(), r.retryable()), (Some(Category::Transient), Some(true)));
    let r = matcher().classify_message(
        "An error occurred (ConditionalCheckFailedException) when calling the PutItem operation: The conditional request failed",
    );
    assert_eq!((r.category(), r.retryable()), (Some(Category::Conflict), Some(false)));
}

/// Family rules added for the second unseen set: a phrase that names the failure outranks the
/// generic word or status it contains, and a 401 yields to a body that says more.
#[test]
fn family_phrases_outrank_their_generic_words() {
    let cases = [
        // a back-quoted status line (Guzzle) stays readable
        ("Client error: `POST https://api.example.com/v1/x` resulted in a `410 Gone` response", "HTTP_GONE"),
        ("Server error: `GET https://api.example.com/v1/x` resulted in a `507 Insufficient Storage` response", "HTTP_INSUFFICIENT_STORAGE"),
        // a configured run-time limit is not a transient timeout
        ("2026-01-01T00:00:00.000Z 1f2e3d4c-0000-4000-8000-000000000000 Task timed out after 900.00 seconds", "ITERATION_LIMIT_EXCEEDED"),
        // an unsupported parameter is a bad request, not an unimplemented feature
        ("Unsupported value: 'temperature' does not support 0.2 with this model.", "GRPC_INVALID_ARGUMENT"),
        // a template key that does not exist is a template error, not a 404
        ("Key \"email\" for array with keys \"id, name\" does not exist in \"mail.html.twig\" at line 3.", "TEMPLATE_RENDER_ERROR"),
        // Slack's too_many_* family: a per-item cap, not a malformed payload; Dropbox's write throttle
        ("{\"ok\":false,\"error\":\"too_many_emoji\"}", "SLACK_LIMIT_REACHED"),
        ("{\"error_summary\": \"too_many_write_operations/...\"}", "HTTP_TOO_MANY_REQUESTS"),
        // database connection slots are a resource, not an outage
        ("FATAL: remaining connection slots are reserved for non-replication superuser connections", "DATABASE_TOO_MANY_CONNECTIONS"),
        // a blocked bot, an address guard and a path guard are not permission problems
        (
            "{\"ok\":false,\"error_code\":403,\"description\":\"Forbidden: bot was kicked from the group chat\"}",
            "MESSAGE_RECIPIENT_REFUSED",
        ),
        ("Error: Access denied to dir_path: /etc. Permission granted exclusively to the current working directory", "FS_PATH_ESCAPES"),
        ("dial tcp 10.0.0.5:80: address forbidden", "HTTP_BLOCKED_ADDRESS"),
        // an AWS request still in progress is a conflict to retry, not throttling
        ("An error occurred (PriorRequestNotComplete) when calling the ChangeTagsForResource operation", "AWS_RESOURCE_IN_USE"),
    ];
    for (message, want) in cases {
        assert_eq!(code(message), want, "{message}");
    }
    let expired =
        FailureInput::message("[{\"message\":\"Session expired or invalid\",\"errorCode\":\"INVALID_SESSION_ID\"}]").with_http_status(401);
    assert_eq!(code_of(expired), "AUTH_TOKEN_EXPIRED");
    assert_eq!(code_of(FailureInput::message("{\"detail\":\"quota_exceeded\"}").with_http_status(401)), "QUOTA_EXHAUSTED");
    assert_eq!(code_of(FailureInput::message("").with_http_status(401)), "HTTP_UNAUTHORIZED");
    assert_eq!(code_of(FailureInput::message("Invalid API key").with_http_status(401)), "HTTP_UNAUTHORIZED");
}

/// A failure no entry matches gets a guess from similar labelled failures, marked as such: not
/// matched, no entry, a confidence too low to decide a retry; the same guess every time.
#[test]
fn an_unknown_failure_gets_a_marked_guess() {
    let input = FailureInput::message("the frobnicator gave up: upstream hung up before sending a reply");
    let r = matcher().classify(&input);
    assert_eq!((r.matched, r.entry.is_none(), r.match_type), (false, true, MatchType::Inferred));
    let guess = r.inferred.clone().expect("a guess");
    assert_eq!((r.category(), r.retryable()), (Some(Category::Transient), Some(true)));
    assert!(r.confidence == guess.confidence && guess.confidence > 0.0 && guess.confidence <= aos_failures::MAX_INFERRED_CONFIDENCE);
    assert!(!guess.nearest.is_empty());
    assert_eq!(matcher().classify(&input), r);
    // A match never carries a guess, and a message like no labelled one gets none.
    assert!(matcher().classify(&FailureInput::message("").with_code("STEP_TIMEOUT")).inferred.is_none());
    let none = matcher().classify_message("qwxz zzyzx");
    assert_eq!((none.inferred, none.match_type), (None, MatchType::None));
}
