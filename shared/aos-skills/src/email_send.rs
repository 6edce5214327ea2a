//! `email_send`: one e-mail over SMTP (lettre; STARTTLS or implicit TLS, so SES's SMTP interface
//! works), with subject, text and HTML parts rendered from minijinja templates (HTML autoescaped,
//! computation bounded by fuel). The server and its credentials are a tenant secret named by the
//! input, never the plan's text; the host passes the same address guard as `http_call`. The
//! Message-ID is derived from run, step and attempt, so a redelivered message is recognisable.
//!
//! The declaration is always built; the executor needs the `email` feature (lettre, minijinja).

use crate::mode;
use aos_core::outcome::Category;
use aos_core::skill::{CostModel, Determinism, SideEffects, SkillSpec};
use serde_json::json;

/// Recipients of one message (to, cc and bcc together).
pub const MAX_RECIPIENTS: usize = 50;
/// Largest message as sent (headers and every part), in bytes.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// Largest template source, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 256 * 1024;
/// The secret holding the SMTP connection when the input names none.
pub const DEFAULT_CONNECTION: &str = "SMTP_URL";
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// What a template may compute: minijinja's fuel (roughly one unit per instruction).
pub const TEMPLATE_FUEL: u64 = 200_000;

pub fn spec() -> SkillSpec {
    SkillSpec {
        id: "email_send".into(),
        version: "1.0.0".into(),
        description: "Sends one e-mail over SMTP. `subject`, `text` and `html` are minijinja templates rendered with \
            `data` (HTML autoescaped; an undefined variable is an error; computation bounded); text and HTML together \
            make a multipart/alternative message. The server comes from the tenant secret named by `connection` \
            (default SMTP_URL): `smtp://user:password@host:587` (STARTTLS required), `smtps://user:password@host:465` \
            (implicit TLS), optional `?from=sender@example.com`; `tls=none` only for hosts the deployment allows. \
            The Message-ID is `<aos.<hash of run and step>.<attempt>@<sender's domain>>`. Recipients are checked \
            before connecting (at most 50); the message is at most 1 MiB. SMTP 4xx replies are retryable, 5xx not \
            (550/551/553 as EMAIL_RECIPIENT_REJECTED, 535/530 as EMAIL_AUTH_FAILED)."
            .into(),
        input_schema: json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": ["to", "subject"],
            "additionalProperties": false,
            "properties": {
                "to": {"type": "array", "minItems": 1, "maxItems": MAX_RECIPIENTS, "items": {"type": "string", "minLength": 3, "maxLength": 320}},
                "cc": {"type": "array", "maxItems": MAX_RECIPIENTS, "items": {"type": "string", "minLength": 3, "maxLength": 320}},
                "bcc": {"type": "array", "maxItems": MAX_RECIPIENTS, "items": {"type": "string", "minLength": 3, "maxLength": 320}},
                "from": {"type": "string", "minLength": 3, "maxLength": 320, "description": "Default: the connection's `from`."},
                "reply_to": {"type": "string", "minLength": 3, "maxLength": 320},
                "subject": {"type": "string", "minLength": 1, "maxLength": 4096, "description": "A template; rendered, one line of at most 998 characters."},
                "text": {"type": "string", "maxLength": MAX_TEMPLATE_BYTES, "description": "A template: the text/plain part."},
                "html": {"type": "string", "maxLength": MAX_TEMPLATE_BYTES, "description": "A template, autoescaped: the text/html part."},
                "data": {"type": "object", "description": "The templates' variables."},
                "connection": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,128}$", "default": DEFAULT_CONNECTION},
                "timeout_ms": {"type": "integer", "minimum": 1, "maximum": 900000}
            }
        }),
        output_schema: json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": ["message_id", "recipients", "reply"],
            "additionalProperties": false,
            "properties": {
                "message_id": {"type": "string"},
                "recipients": {"type": "integer", "minimum": 1},
                "bytes": {"type": "integer"},
                "reply": {"type": "string", "description": "The server's reply to the message (e.g. `250 OK queued as ...`)."}
            }
        }),
        side_effects: SideEffects::Write,
        determinism: Determinism::NonDeterministic,
        cost_model: CostModel { usd_per_call: 0.0001, latency_ms_p50: 500, latency_ms_p95: 3_000 },
        default_timeout_ms: DEFAULT_TIMEOUT_MS,
        secret_fields: Vec::new(),
        failure_modes: vec![
            mode(
                "SKILL_INPUT_INVALID",
                Category::Validation,
                false,
                "The input does not match the schema, or has neither `text` nor `html`.",
            ),
            mode(
                "EMAIL_ADDRESS_INVALID",
                Category::Validation,
                false,
                "A recipient or sender is not an e-mail address, or there are more than 50 recipients.",
            ),
            mode(
                "EMAIL_TEMPLATE_ERROR",
                Category::Validation,
                false,
                "A template does not parse, uses an undefined variable, or computes past its limit.",
            ),
            mode(
                "EMAIL_TOO_LARGE",
                Category::Resource,
                false,
                "The rendered message is larger than 1 MiB, or the subject longer than a header line.",
            ),
            mode(
                "EMAIL_CONNECTION_INVALID",
                Category::Auth,
                false,
                "The connection secret is not an smtp:// or smtps:// URL with a host (or asks for plaintext to a public host).",
            ),
            mode("SECRET_NOT_FOUND", Category::Auth, false, "The tenant has no secret of the name `connection` gives."),
            mode("SECRET_BACKEND_ERROR", Category::Transient, true, "The connection secret could not be read."),
            mode(
                "EMAIL_BLOCKED_ADDRESS",
                Category::Security,
                false,
                "The SMTP host is or resolves to an internal address the deployment does not allow.",
            ),
            mode("EMAIL_CONNECT_ERROR", Category::Transient, true, "The SMTP server could not be reached, or closed the connection."),
            mode("EMAIL_TLS_ERROR", Category::Security, false, "The TLS handshake with the SMTP server failed."),
            mode("EMAIL_TIMEOUT", Category::Transient, true, "The SMTP exchange did not finish within the timeout."),
            mode(
                "EMAIL_AUTH_FAILED",
                Category::Auth,
                false,
                "The SMTP server refused the credentials (535) or requires authentication (530).",
            ),
            mode("EMAIL_RECIPIENT_REJECTED", Category::Validation, false, "The SMTP server refused a recipient (550, 551, 553)."),
            mode("EMAIL_REJECTED", Category::Permanent, false, "The SMTP server refused the message permanently (another 5xx reply)."),
            mode("EMAIL_DEFERRED", Category::Transient, true, "The SMTP server answered with a transient 4xx reply (try again later)."),
            mode(
                "SKILL_RESOURCES_UNAVAILABLE",
                Category::Permanent,
                false,
                "The process executing the step gave the skill no access to the tenant's secrets.",
            ),
        ],
    }
}

#[cfg(feature = "email")]
pub use exec::{message_id, EmailSend};

#[cfg(feature = "email")]
mod exec {
    use super::*;
    use crate::budget::ctx_budget;
    use crate::http::guard::AddressGuard;
    use crate::SkillsConfig;
    use aos_core::canonical::sha256_hex;
    use aos_core::outcome::StepError;
    use aos_core::skill::{input_error, Skill, SkillContext, SkillOutput, SkillSpec};
    use async_trait::async_trait;
    use lettre::message::{Mailbox, MultiPart, SinglePart};
    use lettre::transport::smtp::authentication::{Credentials, Mechanism};
    use lettre::transport::smtp::client::{Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    use minijinja::{AutoEscape, Environment, UndefinedBehavior};
    use reqwest::Url;
    use serde::Deserialize;
    use serde_json::{Map, Value};
    use std::net::IpAddr;
    use std::sync::Arc;
    use std::time::Duration;

    pub struct EmailSend {
        spec: SkillSpec,
        guard: Arc<AddressGuard>,
    }

    impl EmailSend {
        pub fn new(config: &SkillsConfig) -> Self {
            Self { spec: super::spec(), guard: Arc::new(AddressGuard::new(&config.http_allow_hosts)) }
        }
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Input {
        to: Vec<String>,
        #[serde(default)]
        cc: Vec<String>,
        #[serde(default)]
        bcc: Vec<String>,
        from: Option<String>,
        reply_to: Option<String>,
        subject: String,
        text: Option<String>,
        html: Option<String>,
        #[serde(default)]
        data: Map<String, Value>,
        connection: Option<String>,
        timeout_ms: Option<u64>,
    }

    /// The Message-ID of an attempt: the same run, step and attempt give the same id (a
    /// redelivery is recognisable), another attempt of the step another one.
    pub fn message_id(run_id: &str, step_id: &str, attempt: u32, domain: &str) -> String {
        let hash = sha256_hex(format!("{run_id}\0{step_id}").as_bytes());
        format!("<aos.{}.{attempt}@{domain}>", &hash[..24])
    }

    fn err(code: &str, category: Category, retryable: bool, message: impl Into<String>) -> StepError {
        StepError::new(code, category, retryable, message)
    }

    fn address_invalid(message: String) -> StepError {
        err("EMAIL_ADDRESS_INVALID", Category::Validation, false, message)
    }

    fn mailbox(field: &str, text: &str) -> Result<Mailbox, StepError> {
        // A line break would start another header.
        if text.chars().any(char::is_control) {
            return Err(address_invalid(format!("`{field}` has control characters")));
        }
        text.parse::<Mailbox>().map_err(|e| address_invalid(format!("`{field}` is not an e-mail address: {text:?} ({e})")))
    }

    /// Where and how to connect, from the connection secret.
    struct Connection {
        host: String,
        port: u16,
        tls: Mode,
        user: Option<(String, String)>,
        from: Option<String>,
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Mode {
        StartTls,
        Implicit,
        Plain,
    }

    fn connection_invalid(name: &str, why: &str) -> StepError {
        err("EMAIL_CONNECTION_INVALID", Category::Auth, false, format!("the secret `{name}` is not an SMTP connection: {why}"))
    }

    /// Percent-decoding of a URL's user or password (`%40` is `@`).
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && i + 2 < bytes.len() {
                if let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    out.push(b);
                    i += 3;
                    continue;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn parse_connection(name: &str, value: &str) -> Result<Connection, StepError> {
        let url = Url::parse(value.trim()).map_err(|_| connection_invalid(name, "expected smtp://user:password@host:port"))?;
        let mut tls = match url.scheme() {
            "smtp" => Mode::StartTls,
            "smtps" => Mode::Implicit,
            _ => return Err(connection_invalid(name, "the scheme must be smtp or smtps")),
        };
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| connection_invalid(name, "it has no host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let mut from = None;
        for (k, v) in url.query_pairs() {
            match k.as_ref() {
                "tls" if v == "none" => tls = Mode::Plain,
                "tls" if v == "starttls" => tls = Mode::StartTls,
                "tls" if v == "implicit" => tls = Mode::Implicit,
                "from" => from = Some(v.into_owned()),
                other => return Err(connection_invalid(name, &format!("unknown option `{other}`"))),
            }
        }
        let port = url.port().unwrap_or(if tls == Mode::Implicit { 465 } else { 587 });
        let user = (!url.username().is_empty()).then(|| (decode(url.username()), decode(url.password().unwrap_or(""))));
        Ok(Connection { host, port, tls, user, from })
    }

    fn template_error(which: &str, e: &minijinja::Error) -> StepError {
        let mut message = format!("the {which} template failed: {e}");
        if e.kind() == minijinja::ErrorKind::OutOfFuel {
            message = format!("the {which} template computes more than it may (its fuel ran out)");
        }
        err("EMAIL_TEMPLATE_ERROR", Category::Validation, false, message)
    }

    /// What a template may not use: operators that build strings (`~`, `+`, `*`), and the tags that
    /// assign, define or load (`set`, `macro`, `call`, `filter`, `include`, `import`, `from`,
    /// `extends`). With them a short template doubles a string until memory runs out, which fuel
    /// (a count of instructions) does not see; without them, output grows only by printing the
    /// data, and the output cap stops that. Computation belongs in a `json_transform` step, which
    /// runs in the jq sandbox.
    fn check_template(which: &str, source: &str) -> Result<(), StepError> {
        const TAGS: [&str; 8] = ["set", "macro", "call", "filter", "include", "import", "from", "extends"];
        let refuse =
            |what: String| err("EMAIL_TEMPLATE_ERROR", Category::Validation, false, format!("the {which} template may not use {what}"));
        let bytes = source.as_bytes();
        let mut i = 0;
        while i + 1 < bytes.len() {
            let close = match (bytes[i], bytes[i + 1]) {
                (b'{', b'{') => "}}",
                (b'{', b'%') => "%}",
                (b'{', b'#') => {
                    i = source[i..].find("#}").map_or(bytes.len(), |j| i + j + 2);
                    continue;
                }
                _ => {
                    i += 1;
                    continue;
                }
            };
            let mut j = i + 2;
            let mut quote = None;
            let mut first_word = true;
            while j < bytes.len() {
                let c = bytes[j];
                if let Some(q) = quote {
                    if c == b'\\' {
                        j += 2;
                        continue;
                    }
                    if c == q {
                        quote = None;
                    }
                    j += 1;
                    continue;
                }
                if source[j..].starts_with(close) {
                    break;
                }
                match c {
                    b'\'' | b'"' => quote = Some(c),
                    b'~' | b'+' | b'*' => return Err(refuse(format!("the operator `{}` (compute in a json_transform step)", c as char))),
                    c if c.is_ascii_alphabetic() || c == b'_' => {
                        let len = source[j..].find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_')).unwrap_or(source.len() - j);
                        let word = &source[j..j + len];
                        if close == "%}" && first_word && TAGS.contains(&word) {
                            return Err(refuse(format!("the tag `{word}`")));
                        }
                        first_word = false;
                        j += len;
                        continue;
                    }
                    _ => {}
                }
                j += 1;
            }
            i = j + 2;
        }
        Ok(())
    }

    /// A writer that refuses to grow past the message's limit.
    struct Capped(Vec<u8>);

    impl std::io::Write for Capped {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.0.len() + buf.len() > MAX_MESSAGE_BYTES {
                return Err(std::io::Error::other("the rendered template is over the message limit"));
            }
            self.0.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn render<'s>(env: &mut Environment<'s>, which: &'s str, source: &'s str, data: &Map<String, Value>) -> Result<String, StepError> {
        if source.len() > MAX_TEMPLATE_BYTES {
            return Err(err(
                "EMAIL_TOO_LARGE",
                Category::Resource,
                false,
                format!("the {which} template is over {MAX_TEMPLATE_BYTES} bytes"),
            ));
        }
        check_template(which, source)?;
        env.add_template(which, source).map_err(|e| template_error(which, &e))?;
        let template = env.get_template(which).map_err(|e| template_error(which, &e))?;
        let mut out = Capped(Vec::new());
        match template.render_captured_to(data, &mut out) {
            Ok(_) => Ok(String::from_utf8_lossy(&out.0).into_owned()),
            Err(e) if e.kind() == minijinja::ErrorKind::WriteFailure => Err(err(
                "EMAIL_TOO_LARGE",
                Category::Resource,
                false,
                format!("the {which} template renders more than {MAX_MESSAGE_BYTES} bytes"),
            )),
            Err(e) => Err(template_error(which, &e)),
        }
    }

    /// Templates get the data and a short list of filters and tests that cannot build large
    /// values (no `range`, no globals, no `replace`, `indent`, `format`...).
    fn environment<'s>() -> Environment<'s> {
        use minijinja::{filters as f, tests as t};
        let mut env = Environment::empty();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|name| if name == "html" { AutoEscape::Html } else { AutoEscape::None });
        env.set_fuel(Some(TEMPLATE_FUEL));
        env.set_recursion_limit(64);
        env.add_filter("escape", f::escape);
        env.add_filter("e", f::escape);
        env.add_filter("upper", f::upper);
        env.add_filter("lower", f::lower);
        env.add_filter("title", f::title);
        env.add_filter("capitalize", f::capitalize);
        env.add_filter("trim", f::trim);
        env.add_filter("length", f::length);
        env.add_filter("count", f::length);
        env.add_filter("default", f::default);
        env.add_filter("d", f::default);
        env.add_filter("join", f::join);
        env.add_filter("first", f::first);
        env.add_filter("last", f::last);
        env.add_filter("min", f::min);
        env.add_filter("max", f::max);
        env.add_filter("sum", f::sum);
        env.add_filter("round", f::round);
        env.add_filter("abs", f::abs);
        env.add_filter("int", f::int);
        env.add_filter("float", f::float);
        env.add_filter("string", f::string);
        env.add_filter("list", f::list);
        env.add_filter("sort", f::sort);
        env.add_filter("reverse", f::reverse);
        env.add_filter("unique", f::unique);
        env.add_filter("dictsort", f::dictsort);
        env.add_filter("items", f::items);
        env.add_test("defined", t::is_defined);
        env.add_test("undefined", t::is_undefined);
        env.add_test("none", t::is_none);
        env.add_test("number", t::is_number);
        env.add_test("string", t::is_string);
        env.add_test("sequence", t::is_sequence);
        env.add_test("mapping", t::is_mapping);
        env.add_test("odd", t::is_odd);
        env.add_test("even", t::is_even);
        env.add_test("eq", t::is_eq);
        env.add_test("in", t::is_in);
        env
    }

    /// A failure of TLS itself (certificate, handshake, no STARTTLS offered), which lettre reports
    /// as a connection error: retrying does not help, and it may be an interception.
    fn tls_failure(e: &lettre::transport::smtp::Error) -> bool {
        let mut chain = e.to_string().to_ascii_lowercase();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            chain.push_str(&s.to_string().to_ascii_lowercase());
            source = s.source();
        }
        ["certificate", "tls", "handshake"].iter().any(|w| chain.contains(w))
    }

    /// Maps a failed SMTP exchange to its code: the reply code decides.
    fn smtp_error(e: &lettre::transport::smtp::Error, server: &str) -> StepError {
        let text = e.to_string();
        let code = e.status().map(|c| c.to_string());
        let details = serde_json::json!({"smtp_code": code});
        let numeric = code.as_deref().and_then(|c| c.parse::<u16>().ok());
        let (c, category, retryable) = match numeric {
            Some(530 | 535 | 534 | 538) => ("EMAIL_AUTH_FAILED", Category::Auth, false),
            Some(550 | 551 | 553) => ("EMAIL_RECIPIENT_REJECTED", Category::Validation, false),
            Some(552) => ("EMAIL_TOO_LARGE", Category::Resource, false),
            Some(n) if (400..500).contains(&n) => ("EMAIL_DEFERRED", Category::Transient, true),
            Some(_) => ("EMAIL_REJECTED", Category::Permanent, false),
            None if e.is_timeout() => ("EMAIL_TIMEOUT", Category::Transient, true),
            None if e.is_tls() || tls_failure(e) => ("EMAIL_TLS_ERROR", Category::Security, false),
            None => ("EMAIL_CONNECT_ERROR", Category::Transient, true),
        };
        let what = match numeric {
            Some(_) => format!("the SMTP server {server} answered: {text}"),
            None => format!("the SMTP exchange {server} failed: {text}"),
        };
        err(c, category, retryable, what).with_details(details)
    }

    #[async_trait]
    impl Skill for EmailSend {
        fn spec(&self) -> &SkillSpec {
            &self.spec
        }

        async fn execute(&self, ctx: &SkillContext, raw: Value) -> Result<SkillOutput, StepError> {
            let input: Input = serde_json::from_value(raw).map_err(|e| input_error(format!("email_send input is invalid: {e}")))?;
            if input.text.is_none() && input.html.is_none() {
                return Err(input_error("email_send needs `text`, `html` or both"));
            }
            let total = input.to.len() + input.cc.len() + input.bcc.len();
            if total > MAX_RECIPIENTS {
                return Err(address_invalid(format!("{total} recipients, over the limit of {MAX_RECIPIENTS}")));
            }
            let to = input.to.iter().map(|a| mailbox("to", a)).collect::<Result<Vec<_>, _>>()?;
            let cc = input.cc.iter().map(|a| mailbox("cc", a)).collect::<Result<Vec<_>, _>>()?;
            let bcc = input.bcc.iter().map(|a| mailbox("bcc", a)).collect::<Result<Vec<_>, _>>()?;
            let reply_to = input.reply_to.as_deref().map(|a| mailbox("reply_to", a)).transpose()?;
            if to.is_empty() {
                return Err(address_invalid("`to` names no recipient".into()));
            }
            // Templates render before any connection: a broken one never reaches the server.
            let mut env = environment();
            let subject = render(&mut env, "subject", &input.subject, &input.data)?;
            if subject.contains(['\r', '\n']) || subject.chars().count() > 998 {
                return Err(err(
                    "EMAIL_TOO_LARGE",
                    Category::Resource,
                    false,
                    "the rendered subject must be one line of at most 998 characters",
                ));
            }
            let text = input.text.as_deref().map(|t| render(&mut env, "text", t, &input.data)).transpose()?;
            let html = input.html.as_deref().map(|t| render(&mut env, "html", t, &input.data)).transpose()?;

            let scope = ctx.scope()?;
            let name = input.connection.as_deref().unwrap_or(DEFAULT_CONNECTION);
            let value = match scope.secret(name).await {
                Ok(Some(v)) => v,
                Ok(None) => return Err(err("SECRET_NOT_FOUND", Category::Auth, false, format!("secret `{name}` does not exist"))),
                Err(e) => {
                    return Err(err("SECRET_BACKEND_ERROR", Category::Transient, true, format!("secret `{name}` could not be read: {e}")))
                }
            };
            let conn = parse_connection(name, &value)?;
            let from_text = input
                .from
                .clone()
                .or(conn.from.clone())
                .ok_or_else(|| address_invalid(format!("no sender: give `from`, or `?from=` in the connection secret `{name}`")))?;
            let from = mailbox("from", &from_text)?;
            let domain = from.email.domain().to_string();
            let id = message_id(&ctx.run_id, &ctx.step_id, ctx.attempt, &domain);

            let mut builder = Message::builder().from(from).subject(subject).message_id(Some(id.clone()));
            for m in to {
                builder = builder.to(m);
            }
            for m in cc {
                builder = builder.cc(m);
            }
            for m in bcc {
                builder = builder.bcc(m);
            }
            if let Some(r) = reply_to {
                builder = builder.reply_to(r);
            }
            let message = match (text, html) {
                (Some(t), Some(h)) => builder.multipart(MultiPart::alternative_plain_html(t, h)),
                (Some(t), None) => builder.singlepart(SinglePart::plain(t)),
                (None, Some(h)) => builder.singlepart(SinglePart::html(h)),
                (None, None) => unreachable!("checked above"),
            }
            .map_err(|e| address_invalid(format!("the message could not be built: {e}")))?;
            let bytes = message.formatted().len();
            if bytes > MAX_MESSAGE_BYTES {
                return Err(err(
                    "EMAIL_TOO_LARGE",
                    Category::Resource,
                    false,
                    format!("the message is {bytes} bytes, over the limit of {MAX_MESSAGE_BYTES}"),
                ));
            }

            // The host passes the guard: every address it resolves to, then connect to the first
            // (so a second lookup cannot swap in an internal address); TLS checks the name.
            // Messages name the connection, never its host: the whole URL is the tenant's secret.
            let server = format!("of the connection `{name}`");
            let budget = [input.timeout_ms.map(Duration::from_millis), ctx_budget(ctx)]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(Duration::from_millis(DEFAULT_TIMEOUT_MS));
            if conn.tls == Mode::Plain && !self.guard.host_allowed(&conn.host) {
                return Err(connection_invalid(name, "tls=none sends the credentials in the clear: only for hosts the deployment allows"));
            }
            let unreachable =
                |why: &str| err("EMAIL_CONNECT_ERROR", Category::Transient, true, format!("the SMTP exchange {server} failed: {why}"));
            let addrs: Vec<IpAddr> = match conn.host.parse::<IpAddr>() {
                Ok(ip) => vec![ip],
                Err(_) => tokio::time::timeout(budget, tokio::net::lookup_host((conn.host.as_str(), conn.port)))
                    .await
                    .map_err(|_| unreachable("resolving its host timed out"))?
                    .map_err(|_| unreachable("its host could not be resolved"))?
                    .map(|a| a.ip())
                    .collect(),
            };
            for addr in &addrs {
                if self.guard.check_addr(&conn.host, *addr).is_err() {
                    let kind = crate::http::guard::blocked_reason(*addr).unwrap_or("an internal");
                    return Err(err(
                        "EMAIL_BLOCKED_ADDRESS",
                        Category::Security,
                        false,
                        format!(
                            "the SMTP server {server} is blocked: it is or resolves to {kind} address, which the deployment does not allow"
                        ),
                    ));
                }
            }
            let addr = addrs.first().ok_or_else(|| unreachable("its host has no address"))?;
            let tls = match conn.tls {
                Mode::Plain => Tls::None,
                mode => {
                    let params = TlsParameters::new(conn.host.clone())
                        .map_err(|e| err("EMAIL_TLS_ERROR", Category::Security, false, format!("TLS {server} could not be set up: {e}")))?;
                    if mode == Mode::Implicit {
                        Tls::Wrapper(params)
                    } else {
                        Tls::Required(params)
                    }
                }
            };
            let mut transport =
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.to_string()).port(conn.port).tls(tls).timeout(Some(budget));
            if let Some((user, password)) = conn.user {
                // PLAIN (SES and every submission server offer it): over TLS, or plaintext only
                // to a host the deployment allows.
                transport = transport.credentials(Credentials::new(user, password)).authentication(vec![Mechanism::Plain]);
            }
            let transport = transport.build();
            let reply = match tokio::time::timeout(budget, transport.send(message)).await {
                Err(_) => {
                    return Err(err(
                        "EMAIL_TIMEOUT",
                        Category::Transient,
                        true,
                        format!("the SMTP exchange {server} took over {} ms", budget.as_millis()),
                    ))
                }
                Ok(Err(e)) => return Err(smtp_error(&e, &server)),
                Ok(Ok(r)) => r,
            };
            let reply = format!("{} {}", reply.code(), reply.message().collect::<Vec<_>>().join(" "));
            Ok(SkillOutput { output: json!({"message_id": id, "recipients": total, "bytes": bytes, "reply": reply}), cost_usd: 0.0001 })
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn connections_parse() {
            let c = parse_connection("S", "smtps://AKIA%2Fx:p%40ss@email-smtp.us-east-1.amazonaws.com?from=a@b.example").unwrap();
            assert!(c.tls == Mode::Implicit && c.port == 465 && c.host == "email-smtp.us-east-1.amazonaws.com");
            assert_eq!(c.user, Some(("AKIA/x".into(), "p@ss".into())));
            assert_eq!(c.from.as_deref(), Some("a@b.example"));
            let c = parse_connection("S", "smtp://127.0.0.1:2525?tls=none").unwrap();
            assert!(c.tls == Mode::Plain && c.port == 2525 && c.user.is_none());
            for bad in ["http://x", "smtp://", "not a url", "smtp://h?x=1"] {
                assert_eq!(parse_connection("S", bad).err().map(|e| e.code), Some("EMAIL_CONNECTION_INVALID".into()), "{bad}");
            }
        }

        #[test]
        fn message_ids_are_per_attempt_and_stable() {
            assert_eq!(message_id("r", "s", 1, "x.example"), message_id("r", "s", 1, "x.example"));
            assert_ne!(message_id("r", "s", 1, "x.example"), message_id("r", "s", 2, "x.example"));
            assert!(message_id("r", "s", 1, "x.example").ends_with(".1@x.example>"));
        }
    }
}
