//! What the matcher is given about one failure: the message and whatever structured facts the
//! failing code knew (its error code, the HTTP status, an AWS, SMTP or OS error code).

use aos_core::outcome::StepError;

/// A failure to classify. Every field but `message` is optional; structured fields, when
/// present, outrank anything read from the message (see `FailureMatcher`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailureInput<'a> {
    pub message: &'a str,
    /// The skill's or runtime's error code, e.g. `STEP_TIMEOUT`, `HTTP_503`, `JQ_COMPILE_ERROR`.
    pub code: Option<&'a str>,
    /// The skill that failed; part of the signature, not of the classification.
    pub skill: Option<&'a str>,
    pub http_status: Option<u16>,
    /// An AWS error code, bare (`ThrottlingException`) or as DynamoDB's `__type`
    /// (`com.amazonaws.dynamodb.v20120810#ThrottlingException`).
    pub aws_code: Option<&'a str>,
    /// An SMTP reply code (`550`), an enhanced status code (`5.7.1`) or both (`550 5.7.1`).
    pub smtp_code: Option<&'a str>,
    /// A `std::io::ErrorKind` name (`ConnectionRefused`) or an errno name (`ECONNREFUSED`).
    pub os_kind: Option<&'a str>,
}

impl<'a> FailureInput<'a> {
    pub fn message(message: &'a str) -> Self {
        FailureInput { message, ..Default::default() }
    }

    pub fn with_code(mut self, code: &'a str) -> Self {
        self.code = Some(code);
        self
    }

    pub fn with_skill(mut self, skill: &'a str) -> Self {
        self.skill = Some(skill);
        self
    }

    pub fn with_http_status(mut self, status: u16) -> Self {
        self.http_status = Some(status);
        self
    }

    pub fn with_aws_code(mut self, code: &'a str) -> Self {
        self.aws_code = Some(code);
        self
    }

    pub fn with_smtp_code(mut self, code: &'a str) -> Self {
        self.smtp_code = Some(code);
        self
    }

    pub fn with_os_kind(mut self, kind: &'a str) -> Self {
        self.os_kind = Some(kind);
        self
    }

    /// The input for a step error as the runtime records it. `HTTP_<status>` codes carry their
    /// status; `details.status` is read too, for skills that report it there.
    pub fn from_step_error(error: &'a StepError, skill: Option<&'a str>) -> Self {
        let status = error.details.get("status").and_then(|v| v.as_u64()).and_then(|s| u16::try_from(s).ok());
        FailureInput { message: &error.message, code: Some(&error.code), skill, http_status: status, ..Default::default() }
    }
}
