//! SCIM filters (RFC 7644 §3.4.2.2) parsed to an AST with `nom`: every attribute operator,
//! `and` / `or` / `not ( … )`, grouping, value filters on multi-valued attributes
//! (`emails[type eq "work" and value co "@x"]`), attribute paths with schema URNs
//! (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber`), and Entra's
//! `emails[type eq "work"].value eq "x"`, which the RFC allows only in PATCH paths.
//! Attribute names and operators are case-insensitive. The AST is compiled to SQL with bound
//! parameters by `sql` (never pasted into SQL text).

use nom::branch::alt;
use nom::bytes::complete::{tag_no_case, take_while, take_while1};
use nom::character::complete::{char, multispace0, multispace1};
use nom::combinator::{map, opt, recognize, value};
use nom::multi::many0;
use nom::sequence::{delimited, pair, preceded};
use nom::{IResult, Parser};

/// The enterprise user extension's URN.
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// Schema URNs an attribute path may be qualified with, longest first so a prefix never wins.
const SCHEMAS: [&str; 4] = [
    ENTERPRISE,
    "urn:ietf:params:scim:schemas:core:2.0:User",
    "urn:ietf:params:scim:schemas:core:2.0:Group",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0",
];

/// An attribute path: an optional schema URN (lower case, as known), the attribute, and a
/// sub-attribute. Names keep their case as sent; compare them case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    pub schema: Option<String>,
    pub attr: String,
    pub sub: Option<String>,
}

impl AttrPath {
    pub fn is(&self, name: &str) -> bool {
        self.attr.eq_ignore_ascii_case(name)
    }
    pub fn sub_is(&self, name: &str) -> bool {
        self.sub.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(name))
    }
    pub fn enterprise(&self) -> bool {
        self.schema
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case(ENTERPRISE))
    }
}

impl std::fmt::Display for AttrPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(schema) = &self.schema {
            write!(f, "{schema}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some(sub) = &self.sub {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
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

impl CompareOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }
}

/// A comparison value: a JSON literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Compare(AttrPath, CompareOp, Value),
    Present(AttrPath),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `attr[filter]` (the inner filter's paths are the attribute's sub-attributes), optionally
    /// followed by Entra's `.sub op value`.
    ValuePath {
        path: AttrPath,
        inner: Box<Filter>,
        then: Option<(String, CompareOp, Value)>,
    },
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Str(s) => f.write_str(&serde_json::to_string(s).map_err(|_| std::fmt::Error)?),
            Value::Num(n) => write!(f, "{n}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Null => f.write_str("null"),
        }
    }
}

/// The filter in SCIM syntax, fully parenthesised: parsing it gives the same filter back.
impl std::fmt::Display for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Filter::Compare(p, op, v) => write!(f, "{p} {} {v}", op.as_str()),
            Filter::Present(p) => write!(f, "{p} pr"),
            Filter::And(a, b) => write!(f, "({a} and {b})"),
            Filter::Or(a, b) => write!(f, "({a} or {b})"),
            Filter::Not(a) => write!(f, "not ({a})"),
            Filter::ValuePath { path, inner, then } => {
                write!(f, "{path}[{inner}]")?;
                if let Some((sub, op, v)) = then {
                    write!(f, ".{sub} {} {v}", op.as_str())?;
                }
                Ok(())
            }
        }
    }
}

/// Why a filter could not be read, for the `invalidFilter` error's detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

/// The longest filter accepted (a filter is a lookup, not a program).
pub const MAX_FILTER: usize = 4096;
/// Deepest nesting of groups and `not`s.
const MAX_DEPTH: usize = 32;

pub fn parse(input: &str) -> Result<Filter, ParseError> {
    if input.len() > MAX_FILTER {
        return Err(ParseError(format!("the filter is longer than {MAX_FILTER} characters")));
    }
    check_depth(input)?;
    match delimited(multispace0, or_expr, multispace0).parse(input) {
        Ok(("", filter)) => Ok(filter),
        Ok((rest, _)) => Err(ParseError(format!(
            "unexpected text at \"{}\"",
            rest.chars().take(40).collect::<String>()
        ))),
        Err(_) => Err(ParseError("the filter is not valid SCIM filter syntax".into())),
    }
}

/// Nesting is bounded before parsing (filters and PATCH paths alike), so hostile input cannot
/// exhaust the stack.
fn check_depth(input: &str) -> Result<(), ParseError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for c in input.chars() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '(' | '[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(ParseError("the filter nests too deeply".into()));
                }
            }
            ')' | ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn or_expr(i: &str) -> IResult<&str, Filter> {
    let (i, first) = and_expr(i)?;
    let (i, rest) = many0(preceded((multispace1, tag_no_case("or"), multispace1), and_expr)).parse(i)?;
    Ok((
        i,
        rest.into_iter()
            .fold(first, |a, b| Filter::Or(Box::new(a), Box::new(b))),
    ))
}

fn and_expr(i: &str) -> IResult<&str, Filter> {
    let (i, first) = unary(i)?;
    let (i, rest) = many0(preceded((multispace1, tag_no_case("and"), multispace1), unary)).parse(i)?;
    Ok((
        i,
        rest.into_iter()
            .fold(first, |a, b| Filter::And(Box::new(a), Box::new(b))),
    ))
}

fn unary(i: &str) -> IResult<&str, Filter> {
    alt((
        map(preceded((tag_no_case("not"), multispace0), group), |f| {
            Filter::Not(Box::new(f))
        }),
        group,
        value_path,
        attr_expr,
    ))
    .parse(i)
}

fn group(i: &str) -> IResult<&str, Filter> {
    delimited((char('('), multispace0), or_expr, (multispace0, char(')'))).parse(i)
}

fn value_path(i: &str) -> IResult<&str, Filter> {
    let (i, path) = attr_path(i)?;
    let (i, inner) = delimited((char('['), multispace0), or_expr, (multispace0, char(']'))).parse(i)?;
    let (i, then) = opt((
        preceded(char('.'), name),
        preceded(multispace1, compare_op),
        preceded(multispace1, literal),
    ))
    .parse(i)?;
    Ok((
        i,
        Filter::ValuePath {
            path,
            inner: Box::new(inner),
            then: then.map(|(sub, op, v)| (sub.to_owned(), op, v)),
        },
    ))
}

fn attr_expr(i: &str) -> IResult<&str, Filter> {
    let (i, path) = attr_path(i)?;
    alt((
        map(preceded(multispace1, tag_no_case("pr")), {
            let path = path.clone();
            move |_| Filter::Present(path.clone())
        }),
        map(
            pair(preceded(multispace1, compare_op), preceded(multispace1, literal)),
            {
                let path = path.clone();
                move |(op, v)| Filter::Compare(path.clone(), op, v)
            },
        ),
    ))
    .parse(i)
}

fn compare_op(i: &str) -> IResult<&str, CompareOp> {
    alt((
        value(CompareOp::Eq, tag_no_case("eq")),
        value(CompareOp::Ne, tag_no_case("ne")),
        value(CompareOp::Co, tag_no_case("co")),
        value(CompareOp::Sw, tag_no_case("sw")),
        value(CompareOp::Ew, tag_no_case("ew")),
        value(CompareOp::Ge, tag_no_case("ge")),
        value(CompareOp::Gt, tag_no_case("gt")),
        value(CompareOp::Le, tag_no_case("le")),
        value(CompareOp::Lt, tag_no_case("lt")),
    ))
    .parse(i)
}

fn name(i: &str) -> IResult<&str, &str> {
    recognize(pair(
        take_while1(|c: char| c.is_ascii_alphabetic() || c == '$'),
        take_while(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
    ))
    .parse(i)
}

/// `[urn:…:]attr[.sub]`: a known schema URN is matched case-insensitively first (URNs contain
/// colons and dots).
pub(crate) fn attr_path(i: &str) -> IResult<&str, AttrPath> {
    let mut schema = None;
    let mut rest = i;
    for urn in SCHEMAS {
        if rest.len() > urn.len()
            && rest.is_char_boundary(urn.len())
            && rest[..urn.len()].eq_ignore_ascii_case(urn)
            && rest[urn.len()..].starts_with(':')
        {
            schema = Some(urn.to_owned());
            rest = &rest[urn.len() + 1..];
            break;
        }
    }
    let (rest, attr) = name(rest)?;
    let (rest, sub) = opt(preceded(char('.'), name)).parse(rest)?;
    Ok((
        rest,
        AttrPath {
            schema,
            attr: attr.to_owned(),
            sub: sub.map(str::to_owned),
        },
    ))
}

fn literal(i: &str) -> IResult<&str, Value> {
    alt((
        map(json_string, Value::Str),
        value(Value::Bool(true), tag_no_case("true")),
        value(Value::Bool(false), tag_no_case("false")),
        value(Value::Null, tag_no_case("null")),
        map(number, Value::Num),
    ))
    .parse(i)
}

fn number(i: &str) -> IResult<&str, f64> {
    let (rest, text) = recognize((
        opt(char('-')),
        take_while1(|c: char| c.is_ascii_digit()),
        opt(pair(char('.'), take_while1(|c: char| c.is_ascii_digit()))),
        opt((
            alt((char('e'), char('E'))),
            opt(alt((char('+'), char('-')))),
            take_while1(|c: char| c.is_ascii_digit()),
        )),
    ))
    .parse(i)?;
    match text.parse::<f64>() {
        Ok(n) => Ok((rest, n)),
        Err(_) => Err(nom::Err::Error(nom::error::Error::new(i, nom::error::ErrorKind::Float))),
    }
}

/// A JSON string literal, escapes decoded by serde_json (the one JSON reader).
fn json_string(i: &str) -> IResult<&str, String> {
    let (rest, raw) = recognize(delimited(
        char('"'),
        many0(alt((
            recognize(pair(char('\\'), nom::character::complete::anychar)),
            take_while1(|c: char| c != '"' && c != '\\'),
        ))),
        char('"'),
    ))
    .parse(i)?;
    match serde_json::from_str::<String>(raw) {
        Ok(s) => Ok((rest, s)),
        Err(_) => Err(nom::Err::Error(nom::error::Error::new(
            i,
            nom::error::ErrorKind::Escaped,
        ))),
    }
}

/// Parses a PATCH `path`: `attr`, `attr.sub`, `urn:…:attr`, `attr[filter]`, `attr[filter].sub`.
pub fn parse_path(input: &str) -> Result<(AttrPath, Option<Filter>, Option<String>), ParseError> {
    let input = input.trim();
    if input.is_empty() || input.len() > MAX_FILTER {
        return Err(ParseError("the path is empty or too long".into()));
    }
    check_depth(input)?;
    let bad = || {
        ParseError(format!(
            "\"{}\" is not a valid attribute path",
            input.chars().take(80).collect::<String>()
        ))
    };
    let (rest, path) = attr_path(input).map_err(|_| bad())?;
    if rest.is_empty() {
        return Ok((path, None, None));
    }
    if path.sub.is_some() {
        return Err(bad());
    }
    let (rest, inner) = delimited((char('['), multispace0), or_expr, (multispace0, char(']')))
        .parse(rest)
        .map_err(|_| bad())?;
    let (rest, sub) = opt(preceded(char('.'), name))
        .parse(rest)
        .map_err(|_: nom::Err<nom::error::Error<&str>>| bad())?;
    if !rest.is_empty() {
        return Err(bad());
    }
    Ok((path, Some(inner), sub.map(str::to_owned)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Filter {
        parse(s).unwrap_or_else(|e| panic!("{s}: {e:?}"))
    }

    fn path(attr: &str) -> AttrPath {
        AttrPath {
            schema: None,
            attr: attr.into(),
            sub: None,
        }
    }

    #[test]
    fn every_operator_parses_case_insensitively() {
        for op in ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "EQ", "Ge"] {
            let f = p(&format!("userName {op} \"a\""));
            assert!(matches!(f, Filter::Compare(_, _, Value::Str(_))), "{op}");
        }
        assert_eq!(p("title pr"), Filter::Present(path("title")));
        assert_eq!(p("title PR"), Filter::Present(path("title")));
    }

    #[test]
    fn not_binds_tighter_than_and_and_and_than_or() {
        let f = p("a eq 1 or b eq 2 and not (c eq 3)");
        let Filter::Or(left, right) = f else { panic!() };
        assert!(matches!(*left, Filter::Compare(..)));
        let Filter::And(_, not) = *right else { panic!() };
        assert!(matches!(*not, Filter::Not(_)));
        assert!(matches!(p("(a eq 1 or b eq 2) and c eq 3"), Filter::And(..)));
    }

    #[test]
    fn literals_are_json() {
        assert_eq!(
            p(r#"userName eq "a\"b\u00e9""#),
            Filter::Compare(path("userName"), CompareOp::Eq, Value::Str("a\"bé".into()))
        );
        assert_eq!(
            p("x eq true"),
            Filter::Compare(path("x"), CompareOp::Eq, Value::Bool(true))
        );
        assert_eq!(p("x eq null"), Filter::Compare(path("x"), CompareOp::Eq, Value::Null));
        assert_eq!(
            p("x gt -1.5e2"),
            Filter::Compare(path("x"), CompareOp::Gt, Value::Num(-150.0))
        );
    }

    #[test]
    fn schema_urns_and_sub_attributes_are_paths() {
        let Filter::Compare(a, ..) = p(&format!("{ENTERPRISE}:employeeNumber eq \"7\"")) else {
            panic!()
        };
        assert!(a.enterprise() && a.is("employeenumber"));
        let Filter::Compare(a, ..) = p("URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER:name.familyName eq \"x\"") else {
            panic!()
        };
        assert_eq!((a.attr.as_str(), a.sub.as_deref()), ("name", Some("familyName")));
        let Filter::Compare(a, ..) = p(&format!("{ENTERPRISE}:manager.value eq \"m\"")) else {
            panic!()
        };
        assert!(a.enterprise() && a.sub_is("VALUE"));
    }

    #[test]
    fn value_filters_and_entra_s_trailing_sub_attribute() {
        let f = p(r#"emails[type eq "work" and value co "@x.com"]"#);
        assert!(matches!(f, Filter::ValuePath { then: None, .. }));
        let f = p(r#"emails[type eq "work"].value eq "a@b.c""#);
        let Filter::ValuePath {
            then: Some((sub, CompareOp::Eq, Value::Str(v))),
            ..
        } = f
        else {
            panic!()
        };
        assert_eq!((sub.as_str(), v.as_str()), ("value", "a@b.c"));
    }

    #[test]
    fn broken_filters_are_refused_and_never_panic() {
        for bad in [
            "",
            "userName",
            "userName eq",
            "userName eq \"a",
            "userName zz \"a\"",
            "(userName eq \"a\"",
            "userName eq \"a\" and",
            "emails[type eq \"work\"",
            "not userName eq \"a\"",
            "a eq 1 b eq 2",
            "a eq \"\\x\"",
            "a[b[c eq 1]] eq 1",
            "\u{0}",
            "a eq 01x",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
        // Deep but within the length limit: refused before the parser recurses.
        let deep = format!("{}a eq 1{}", "(".repeat(2000), ")".repeat(2000));
        assert!(parse(&deep).is_err());
        assert!(parse_path(&format!("emails[{}", "(".repeat(4000))).is_err());
        assert!(parse_path(&format!("emails[{}a eq 1{}]", "(".repeat(33), ")".repeat(33))).is_err());
        assert!(parse(&"a".repeat(MAX_FILTER + 1)).is_err());
    }

    /// Property tests with a seeded generator (the same cases every run): any input at all is
    /// answered without a panic, and every valid filter or path, printed, parses back to itself.
    mod properties {
        use super::super::*;
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};

        const SOUP: &[&str] = &[
            "userName",
            "emails",
            "name",
            ".",
            "givenName",
            "[",
            "]",
            "(",
            ")",
            " ",
            "  ",
            "eq",
            "ne",
            "co",
            "sw",
            "ew",
            "gt",
            "ge",
            "lt",
            "le",
            "pr",
            "and",
            "or",
            "not",
            "\"",
            "\\",
            "\\u00e9",
            "\\x",
            "true",
            "false",
            "null",
            "1",
            "-2.5e3",
            "é",
            "👍",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:",
            ":",
            "value",
            "type",
            "$ref",
            "\n",
            "\t",
            "\u{0}",
        ];

        fn soup(rng: &mut StdRng) -> String {
            (0..rng.gen_range(0..40))
                .map(|_| SOUP[rng.gen_range(0..SOUP.len())])
                .collect()
        }

        #[test]
        fn no_input_makes_the_parsers_panic() {
            let mut rng = StdRng::seed_from_u64(7);
            for _ in 0..20_000 {
                let input = soup(&mut rng);
                let _ = parse(&input);
                let _ = parse_path(&input);
                if let Ok(f) = parse(&input) {
                    for r in [crate::scim::sql::Resource::User, crate::scim::sql::Resource::Group] {
                        let _ = crate::scim::sql::compile(r, &f, 1);
                    }
                }
            }
            // Raw bytes as text too.
            for _ in 0..5_000 {
                let bytes: Vec<u8> = (0..rng.gen_range(0..60)).map(|_| rng.gen()).collect();
                let input = String::from_utf8_lossy(&bytes);
                let _ = parse(&input);
                let _ = parse_path(&input);
            }
        }

        fn name(rng: &mut StdRng) -> String {
            const NAMES: &[&str] = &[
                "userName",
                "emails",
                "displayName",
                "externalId",
                "active",
                "value",
                "type",
                "title",
                "meta",
                "$ref",
                "x-1",
                "a_b",
            ];
            if rng.gen_bool(0.7) {
                NAMES[rng.gen_range(0..NAMES.len())].to_owned()
            } else {
                let first = rng.gen_range(b'a'..=b'z') as char;
                let rest: String = (0..rng.gen_range(0..8))
                    .map(|_| rng.gen_range(b'a'..=b'z') as char)
                    .collect();
                format!("{first}{rest}")
                    .replace("and", "anx")
                    .replace("or", "ox")
                    .replace("not", "nox")
            }
        }

        fn path(rng: &mut StdRng) -> AttrPath {
            AttrPath {
                schema: rng
                    .gen_bool(0.2)
                    .then(|| SCHEMAS[rng.gen_range(0..SCHEMAS.len())].to_owned()),
                attr: name(rng),
                sub: rng.gen_bool(0.3).then(|| name(rng)),
            }
        }

        fn value(rng: &mut StdRng) -> Value {
            match rng.gen_range(0..5) {
                0 => Value::Bool(rng.gen()),
                1 => Value::Null,
                2 => Value::Num(f64::from(rng.gen_range(-100_000i32..100_000)) / 8.0),
                _ => Value::Str(
                    (0..rng.gen_range(0..12))
                        .map(|_| {
                            let pool = ['a', 'Z', '"', '\\', ' ', 'é', '\n', '\u{1}', '👍', ']', ')', '('];
                            pool[rng.gen_range(0..pool.len())]
                        })
                        .collect(),
                ),
            }
        }

        fn op(rng: &mut StdRng) -> CompareOp {
            use CompareOp::*;
            [Eq, Ne, Co, Sw, Ew, Gt, Ge, Lt, Le][rng.gen_range(0..9)]
        }

        fn filter(rng: &mut StdRng, depth: u32) -> Filter {
            let leaf = depth >= 4 || rng.gen_bool(0.4);
            match if leaf { rng.gen_range(0..2) } else { rng.gen_range(0..6) } {
                0 => Filter::Compare(path(rng), op(rng), value(rng)),
                1 => Filter::Present(path(rng)),
                2 => Filter::And(Box::new(filter(rng, depth + 1)), Box::new(filter(rng, depth + 1))),
                3 => Filter::Or(Box::new(filter(rng, depth + 1)), Box::new(filter(rng, depth + 1))),
                4 => Filter::Not(Box::new(filter(rng, depth + 1))),
                _ => Filter::ValuePath {
                    path: AttrPath { sub: None, ..path(rng) },
                    // Value filters do not nest.
                    inner: Box::new(Filter::Compare(
                        AttrPath {
                            schema: None,
                            attr: name(rng),
                            sub: None,
                        },
                        op(rng),
                        value(rng),
                    )),
                    then: rng.gen_bool(0.5).then(|| (name(rng), op(rng), value(rng))),
                },
            }
        }

        #[test]
        fn every_valid_filter_round_trips_through_its_text() {
            let mut rng = StdRng::seed_from_u64(11);
            for _ in 0..5_000 {
                let f = filter(&mut rng, 0);
                let text = f.to_string();
                assert_eq!(parse(&text).as_ref(), Ok(&f), "{text}");
            }
        }

        #[test]
        fn every_valid_patch_path_round_trips_through_its_text() {
            let mut rng = StdRng::seed_from_u64(13);
            for _ in 0..5_000 {
                let p = path(&mut rng);
                let (with_filter, sub) = (rng.gen_bool(0.5) && p.sub.is_none(), rng.gen_bool(0.5));
                let inner = Filter::Compare(
                    AttrPath {
                        schema: None,
                        attr: name(&mut rng),
                        sub: None,
                    },
                    op(&mut rng),
                    value(&mut rng),
                );
                let sub = (with_filter && sub).then(|| name(&mut rng));
                let text = match (with_filter, &sub) {
                    (true, Some(s)) => format!("{p}[{inner}].{s}"),
                    (true, None) => format!("{p}[{inner}]"),
                    _ => p.to_string(),
                };
                let parsed = parse_path(&text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
                assert_eq!(parsed, (p, with_filter.then_some(inner), sub), "{text}");
            }
        }
    }

    #[test]
    fn patch_paths() {
        let (a, f, s) = parse_path(r#"emails[type eq "work"].value"#).unwrap();
        assert!(a.is("emails") && f.is_some() && s.as_deref() == Some("value"));
        let (a, f, s) = parse_path(&format!("{ENTERPRISE}:department")).unwrap();
        assert!(a.enterprise() && f.is_none() && s.is_none());
        let (a, _, _) = parse_path("name.givenName").unwrap();
        assert!(a.sub_is("givenname"));
        assert!(parse_path("members[value eq \"1\"]").unwrap().1.is_some());
        for bad in ["", "a.b.c", "a[", "a]b", "a[b eq 1]x", "1abc"] {
            assert!(parse_path(bad).is_err(), "{bad:?}");
        }
    }
}
