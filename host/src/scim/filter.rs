//! The SCIM filter language (RFC 7644 §3.4.2.2), parsed at the edge into a [`Filter`] tree:
//! attribute comparisons (`eq ne co sw ew gt ge lt le`), presence (`pr`), `and`, `or`, `not`,
//! parentheses and complex attribute filters (`emails[type eq "work" and value co "@x"]`).
//! Operators and keywords are case-insensitive; attribute paths may carry a schema URN.
//! Length and nesting are bounded before any work is done, so a hostile filter costs
//! microseconds. Evaluating a filter is the caller's business; this module only parses.

use std::fmt;

/// Longest filter accepted, in bytes (Okta and Entra send filters well under 200 bytes).
pub const MAX_FILTER_BYTES: usize = 4096;
/// Deepest nesting of parentheses, `not` and brackets: stops stack exhaustion by
/// `((((…))))` and keeps evaluation cost linear.
pub const MAX_FILTER_DEPTH: usize = 16;
/// Most comparisons in one filter: a long `or` chain would otherwise cost one scan each.
pub const MAX_FILTER_TERMS: usize = 64;

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: CompValue,
    },
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `path[filter]`: some value of the multi-valued `path` matches `filter`, whose paths
    /// name sub-attributes of it.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
    },
}

/// `[urn:…:]name[.sub]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// The schema URN, when the path names one.
    pub urn: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A comparison's right-hand side.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    Str(String),
    Num(serde_json::Number),
    Bool(bool),
    Null,
}

/// Why a filter was refused; shown to the client with `scimType: invalidFilter`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FilterError(pub String);

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        write!(f, "{}", self.name)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Filter {
    type Err = FilterError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.len() > MAX_FILTER_BYTES {
            return Err(FilterError(format!(
                "the filter is longer than {MAX_FILTER_BYTES} bytes"
            )));
        }
        let tokens = tokenize(text)?;
        let mut p = Parser {
            tokens,
            at: 0,
            depth: 0,
            terms: 0,
        };
        let filter = p.or()?;
        match p.peek() {
            None => Ok(filter),
            Some(t) => Err(FilterError(format!("unexpected {t} after the filter"))),
        }
    }
}

impl AttrPath {
    /// Parses `[urn:]name[.sub]` (also used for `sortBy` and `attributes`).
    pub fn parse(text: &str) -> Result<Self, FilterError> {
        let bad = || FilterError(format!("`{text}` is not an attribute path"));
        let (urn, rest) = match text.rfind(':') {
            Some(i) => {
                let urn = &text[..i];
                if !urn.to_ascii_lowercase().starts_with("urn:") {
                    return Err(bad());
                }
                (Some(urn.to_string()), &text[i + 1..])
            }
            None => (None, text),
        };
        let (name, sub) = match rest.split_once('.') {
            Some((n, s)) => (n, Some(s)),
            None => (rest, None),
        };
        let valid = |n: &str| {
            let mut chars = n.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '$')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        if !valid(name) || sub.is_some_and(|s| !valid(s)) {
            return Err(bad());
        }
        Ok(AttrPath {
            urn,
            name: name.to_string(),
            sub: sub.map(str::to_string),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Word(String),
    Str(String),
    Num(serde_json::Number),
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Open => write!(f, "`(`"),
            Token::Close => write!(f, "`)`"),
            Token::OpenBracket => write!(f, "`[`"),
            Token::CloseBracket => write!(f, "`]`"),
            Token::Word(w) => write!(f, "`{w}`"),
            Token::Str(_) => write!(f, "a string"),
            Token::Num(n) => write!(f, "`{n}`"),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, FilterError> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'(' => {
                out.push(Token::Open);
                i += 1
            }
            b')' => {
                out.push(Token::Close);
                i += 1
            }
            b'[' => {
                out.push(Token::OpenBracket);
                i += 1
            }
            b']' => {
                out.push(Token::CloseBracket);
                i += 1
            }
            b'"' => {
                // A JSON string: find its end (honouring escapes), then let serde decode it.
                let start = i;
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => return Err(FilterError("a string is not closed".into())),
                        Some(b'\\') => i += 2,
                        Some(b'"') => break,
                        Some(_) => i += 1,
                    }
                }
                i += 1;
                let s: String = serde_json::from_str(&text[start..i])
                    .map_err(|_| FilterError("a string has a bad escape".into()))?;
                out.push(Token::Str(s));
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < bytes.len()
                    && matches!(bytes[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                let n: serde_json::Number = text[start..i]
                    .parse()
                    .map_err(|_| FilterError(format!("`{}` is not a number", &text[start..i])))?;
                out.push(Token::Num(n));
            }
            _ => {
                let start = i;
                while i < bytes.len()
                    && !matches!(
                        bytes[i],
                        b' ' | b'\t' | b'\n' | b'\r' | b'(' | b')' | b'[' | b']' | b'"'
                    )
                {
                    i += 1;
                }
                // Words are attribute paths and keywords: printable ASCII only.
                let word = &text[start..i];
                if !word.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(FilterError(format!("unexpected `{word}`")));
                }
                out.push(Token::Word(word.to_string()));
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
    terms: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(k))
    }

    fn enter(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_FILTER_DEPTH {
            return Err(FilterError(format!(
                "the filter nests deeper than {MAX_FILTER_DEPTH} levels"
            )));
        }
        Ok(())
    }

    /// `or` binds loosest.
    fn or(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.at += 1;
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.at += 1;
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, FilterError> {
        if self.keyword("not") {
            self.at += 1;
            if self.peek() != Some(&Token::Open) {
                return Err(FilterError("`not` must be followed by `(`".into()));
            }
            return Ok(Filter::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(&Token::Open) {
            self.at += 1;
            self.enter()?;
            let inner = self.or()?;
            self.depth -= 1;
            return match self.next() {
                Some(Token::Close) => Ok(inner),
                _ => Err(FilterError("a `(` is not closed".into())),
            };
        }
        self.attribute_expression()
    }

    fn attribute_expression(&mut self) -> Result<Filter, FilterError> {
        let path = match self.next() {
            Some(Token::Word(w)) => AttrPath::parse(&w)?,
            Some(t) => return Err(FilterError(format!("expected an attribute, found {t}"))),
            None => return Err(FilterError("the filter ends too early".into())),
        };
        self.terms += 1;
        if self.terms > MAX_FILTER_TERMS {
            return Err(FilterError(format!(
                "the filter has more than {MAX_FILTER_TERMS} comparisons"
            )));
        }
        if self.peek() == Some(&Token::OpenBracket) {
            self.at += 1;
            if path.sub.is_some() {
                return Err(FilterError(format!(
                    "`{path}[…]`: a value filter applies to an attribute, not a sub-attribute"
                )));
            }
            self.enter()?;
            let inner = self.or()?;
            self.depth -= 1;
            if self.next() != Some(Token::CloseBracket) {
                return Err(FilterError("a `[` is not closed".into()));
            }
            if contains_value_path(&inner) {
                return Err(FilterError("value filters cannot be nested".into()));
            }
            return Ok(Filter::ValuePath {
                path,
                filter: Box::new(inner),
            });
        }
        let op = match self.next() {
            Some(Token::Word(w)) => w.to_ascii_lowercase(),
            _ => return Err(FilterError(format!("`{path}` needs an operator"))),
        };
        let op = match op.as_str() {
            "pr" => return Ok(Filter::Present(path)),
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            other => return Err(FilterError(format!("`{other}` is not a SCIM operator"))),
        };
        let value = match self.next() {
            Some(Token::Str(s)) => CompValue::Str(s),
            Some(Token::Num(n)) => CompValue::Num(n),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => CompValue::Bool(true),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => CompValue::Bool(false),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("null") => CompValue::Null,
            _ => {
                return Err(FilterError(format!(
                    "`{path}` must be compared with a string, number, true, false or null"
                )))
            }
        };
        Ok(Filter::Compare { path, op, value })
    }
}

fn contains_value_path(f: &Filter) -> bool {
    match f {
        Filter::ValuePath { .. } => true,
        Filter::And(a, b) | Filter::Or(a, b) => contains_value_path(a) || contains_value_path(b),
        Filter::Not(a) => contains_value_path(a),
        Filter::Compare { .. } | Filter::Present(_) => false,
    }
}
