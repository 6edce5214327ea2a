//! Human-readable compile errors from jaq's structured ones. jaq points at slices of the source;
//! turning them into "line, column" lets a plan author find the mistake.

use crate::error::{position_of, Position};
use crate::JqError;
use jaq_core::compile::{self, Undefined};
use jaq_core::load::{self, lex, parse};

type LoadErrors<'s> = load::Errors<&'s str, ()>;
type CompileErrors<'s> = compile::Errors<&'s str, ()>;

pub(crate) fn load_error(code: &str, errs: LoadErrors<'_>) -> JqError {
    let mut items = Vec::new();
    for (_file, err) in errs {
        match err {
            load::Error::Io(paths) => {
                items.extend(paths.into_iter().map(|(path, why)| (format!("cannot import \"{path}\": {why}"), position_of(code, path))))
            }
            load::Error::Lex(lexed) => items.extend(
                lexed
                    .into_iter()
                    .map(|(expect, found)| (format!("expected {}{}", lex_expect(&expect), near(found)), position_of(code, found))),
            ),
            load::Error::Parse(parsed) => items.extend(
                parsed
                    .into_iter()
                    .map(|(expect, found)| (format!("expected {}{}", parse_expect(&expect), near(found)), position_of(code, found))),
            ),
        }
    }
    combine(items)
}

pub(crate) fn undefined_error(code: &str, errs: CompileErrors<'_>) -> JqError {
    let items = errs.into_iter().flat_map(|(_file, list)| list).map(|(name, undefined)| {
        let what = match undefined {
            Undefined::Filter(arity) => format!("undefined filter `{name}/{arity}`"),
            other => format!("undefined {} `{name}`", other.as_str()),
        };
        (what, position_of(code, name))
    });
    combine(items.collect())
}

fn combine(items: Vec<(String, Option<Position>)>) -> JqError {
    let position = items.iter().find_map(|(_, p)| *p);
    let message = if items.is_empty() {
        "invalid jq program".to_string()
    } else {
        let parts: Vec<String> = items
            .into_iter()
            .map(|(what, pos)| match pos {
                Some(p) => format!("{what} at {p}"),
                None => what,
            })
            .collect();
        parts.join("; ")
    };
    JqError::Compile { message, position }
}

// jaq's own `as_str` panics on delimiters it does not name, so describe them here.
fn lex_expect(e: &lex::Expect<&str>) -> String {
    match e {
        lex::Expect::Digit => "a digit".into(),
        lex::Expect::Ident => "an identifier".into(),
        lex::Expect::Delim("(") => "a closing parenthesis".into(),
        lex::Expect::Delim("[") => "a closing bracket".into(),
        lex::Expect::Delim("{") => "a closing brace".into(),
        lex::Expect::Delim("\"") => "a closing quote".into(),
        lex::Expect::Delim(open) => format!("a delimiter closing `{open}`"),
        lex::Expect::Escape => "a string escape sequence".into(),
        lex::Expect::Unicode => "a 4-digit hexadecimal code point".into(),
        lex::Expect::Token => "a token".into(),
        other => format!("{other:?}"),
    }
}

fn parse_expect<'a>(e: &parse::Expect<&'a str>) -> &'a str {
    match e {
        parse::Expect::Nothing => "end of expression",
        other => other.as_str(),
    }
}

fn near(found: &str) -> String {
    let snippet: String = found.chars().take(20).collect();
    if snippet.trim().is_empty() {
        ", found end of program".to_string()
    } else {
        format!(", found `{}`", snippet.trim_end())
    }
}
