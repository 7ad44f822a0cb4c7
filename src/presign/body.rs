//! Reading a JSON request body, naming the field of the first problem in every 400.
//!
//! A body whose fields are declared in a table ([`Field`]: `/v1/presign`, `/v1/presign/post`,
//! Uppy's `signRequest`) is read by [`read`]: each field's name, whether it is required and the
//! function that checks its value live in one row, so parsing, the per-method check and signing
//! all read the same row. A batch's body, small and fixed, is a serde struct read by
//! [`parse_object`]. Both refuse unknown fields and a field given twice, and report problems in
//! the order the fields come in the body, then missing fields in table order. A field's check
//! refuses `null` ([`NOT_NULL`]): a null is as likely a client bug as a typo, so the caller
//! leaves the field out instead (Uppy's fields, passed on unchecked, are the exception).

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde_json::Value;

use super::allow_list::Method;
use super::error::PresignError;

/// The message for `null` in an optional field.
pub(crate) const NOT_NULL: &str = "must not be null; leave the field out instead";

/// Checks a field's JSON value; `Err` is the 400's message, without the field name.
pub type Check = fn(Value) -> Result<Parsed, String>;

/// One field of a JSON body, declared once: its name, whether the body must carry it, how its
/// value is checked, and what the body's request does with it (`place`, the request's own type).
pub struct Field<P: 'static> {
    pub name: &'static str,
    pub required: bool,
    pub parse: Check,
    pub place: P,
}

/// A checked value, in the form the request uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Sent as is: a header value, a query parameter, a key.
    Text(String),
    /// Seconds, bytes or a part number.
    Count(u64),
    Method(Method),
    /// Named entries, sent one header or form field each (`x-amz-meta-<name>`).
    Entries(Vec<(String, String)>),
    /// Inclusive bounds in bytes.
    Range(u64, u64),
    /// Any JSON value, checked later by the request it becomes (Uppy's fields).
    Json(Value),
}

impl Parsed {
    pub fn into_text(self) -> Option<String> {
        match self {
            Parsed::Text(text) => Some(text),
            _ => None,
        }
    }

    pub fn count(&self) -> Option<u64> {
        match self {
            Parsed::Count(n) => Some(*n),
            _ => None,
        }
    }
}

/// The fields a body carried, by their row in the table.
pub struct Given<P: 'static> {
    fields: &'static [Field<P>],
    values: Vec<Option<Parsed>>,
}

impl<P> Given<P> {
    fn position(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// Whether the body carried field `name`.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The value of field `name`, if given.
    pub fn get(&self, name: &str) -> Option<&Parsed> {
        self.values[self.position(name)?].as_ref()
    }

    /// Takes the value of field `name` out, if given.
    pub fn take(&mut self, name: &str) -> Option<Parsed> {
        let at = self.position(name)?;
        self.values[at].take()
    }

    /// Takes the text of field `name` out, if given.
    pub fn take_text(&mut self, name: &str) -> Option<String> {
        self.take(name).and_then(Parsed::into_text)
    }

    /// The given fields still held, in table order, taken out.
    pub fn into_fields(self) -> impl Iterator<Item = (&'static Field<P>, Parsed)> {
        let fields = self.fields;
        fields
            .iter()
            .zip(self.values)
            .filter_map(|(field, value)| Some((field, value?)))
    }

    /// The given fields still held, in table order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static Field<P>, &Parsed)> {
        let fields = self.fields;
        fields
            .iter()
            .zip(&self.values)
            .filter_map(|(field, value)| Some((field, value.as_ref()?)))
    }
}

/// Reads a JSON object body whose fields are `fields`, naming the first bad field.
pub fn read<P>(body: &[u8], fields: &'static [Field<P>]) -> Result<Given<P>, PresignError> {
    object_only(body)?;
    let mut json = serde_json::Deserializer::from_slice(body);
    let given = entries(&mut json, fields)?;
    json.end().map_err(|e| not_json(&e))?;
    complete(given)
}

/// Reads a JSON object already parsed (a batch's item, the request Uppy's fields become) as
/// [`read`] reads a body, with no text in between.
pub fn read_value<P>(value: Value, fields: &'static [Field<P>]) -> Result<Given<P>, PresignError> {
    if !value.is_object() {
        return Err(PresignError::invalid("body", "expected a JSON object"));
    }
    complete(entries(value, fields)?)
}

/// The entries of a JSON object, each checked by its field's row.
fn entries<'de, D, P>(object: D, fields: &'static [Field<P>]) -> Result<Given<P>, PresignError>
where
    D: de::Deserializer<'de, Error = serde_json::Error>,
{
    let mut given = Given {
        fields,
        values: std::iter::repeat_with(|| None).take(fields.len()).collect(),
    };
    let mut problem = None;
    let reader = Reader {
        given: &mut given,
        problem: &mut problem,
    };
    if let Err(e) = object.deserialize_map(reader) {
        return Err(problem.unwrap_or_else(|| not_json(&e)));
    }
    Ok(given)
}

/// The fields given, or the first required one missing.
fn complete<P>(given: Given<P>) -> Result<Given<P>, PresignError> {
    if let Some(missing) = given
        .fields
        .iter()
        .zip(&given.values)
        .find(|(field, value)| field.required && value.is_none())
    {
        return Err(PresignError::invalid(missing.0.name, "is required"));
    }
    Ok(given)
}

/// Fills a [`Given`] from the body's entries, in the order they come. A field's own problem is
/// kept in `problem` (serde's error type cannot carry it); serde's error only stops the parse.
struct Reader<'a, P: 'static> {
    given: &'a mut Given<P>,
    problem: &'a mut Option<PresignError>,
}

impl<'de, P> Visitor<'de> for Reader<'_, P> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let fields = self.given.fields;
        while let Some(name) = map.next_key_seed(Name(fields))? {
            let at = match name {
                Ok(at) => at,
                Err(unknown) => {
                    let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
                    return self.refuse(PresignError::invalid(
                        &unknown,
                        format!("unknown field; expected one of {}", names.join(", ")),
                    ));
                }
            };
            let field = &fields[at];
            if self.given.values[at].is_some() {
                return self.refuse(PresignError::invalid(field.name, "is given twice"));
            }
            match (field.parse)(map.next_value::<Value>()?) {
                Ok(value) => self.given.values[at] = Some(value),
                Err(why) => return self.refuse(PresignError::invalid(field.name, why)),
            }
        }
        Ok(())
    }
}

impl<P> Reader<'_, P> {
    fn refuse<E: de::Error>(self, problem: PresignError) -> Result<(), E> {
        *self.problem = Some(problem);
        Err(E::custom("refused"))
    }
}

/// A body's key: the row of the field it names, or the unknown name.
struct Name<P: 'static>(&'static [Field<P>]);

impl<'de, P> DeserializeSeed<'de> for Name<P> {
    type Value = Result<usize, String>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, P> Visitor<'de> for Name<P> {
    type Value = Result<usize, String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Self::Value, E> {
        Ok(self
            .0
            .iter()
            .position(|f| f.name == name)
            .ok_or_else(|| name.to_string()))
    }
}

/// serde would read a struct from an array too; a body is an object or nothing.
fn object_only(body: &[u8]) -> Result<(), PresignError> {
    if body.trim_ascii_start().first() == Some(&b'{') {
        return Ok(());
    }
    Err(match serde_json::from_slice::<de::IgnoredAny>(body) {
        Err(e) => not_json(&e),
        Ok(_) => PresignError::invalid("body", "expected a JSON object"),
    })
}

fn not_json(e: &serde_json::Error) -> PresignError {
    PresignError::invalid("body", format!("not valid JSON: {e}"))
}

/// Parses a small JSON object body into the serde struct `T`, naming the first bad field;
/// `fields` are the ones `T` takes.
pub(crate) fn parse_object<T: serde::de::DeserializeOwned>(
    body: &[u8],
    fields: &[&str],
) -> Result<T, PresignError> {
    object_only(body)?;
    let mut json = serde_json::Deserializer::from_slice(body);
    let parsed: T = serde_path_to_error::deserialize(&mut json).map_err(|e| {
        let message = e.inner().to_string();
        let path = e.path().to_string();
        described(&path, &message, e.inner().classify(), fields)
    })?;
    json.end().map_err(|e| not_json(&e))?;
    Ok(parsed)
}

/// The 400 for a serde error: the field it names and a message without serde's jargon.
fn described(
    path: &str,
    message: &str,
    class: serde_json::error::Category,
    fields: &[&str],
) -> PresignError {
    use serde_json::error::Category;
    if matches!(class, Category::Syntax | Category::Eof | Category::Io) {
        return PresignError::invalid("body", format!("not valid JSON: {message}"));
    }
    if let Some(field) = quoted_after(message, "unknown field `") {
        return PresignError::invalid(
            field,
            format!("unknown field; expected one of {}", fields.join(", ")),
        );
    }
    if let Some(field) = quoted_after(message, "missing field `") {
        return PresignError::invalid(field, "is required");
    }
    if let Some(field) = quoted_after(message, "duplicate field `") {
        return PresignError::invalid(field, "is given twice");
    }
    if path == "." || path.is_empty() {
        return PresignError::invalid("body", "expected a JSON object");
    }
    // Our own checks' messages carry serde's position suffix (" at line 1 column 20"): drop it.
    let message = message
        .rsplit_once(" at line ")
        .map_or(message, |(text, _)| text);
    PresignError::invalid(path, message)
}

/// `name` in "... `name` ..." right after `prefix`.
fn quoted_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.split_once(prefix)?.1;
    Some(rest.split_once('`')?.0)
}

/// A JSON string, or why the value is not one.
pub(crate) fn string(value: Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s),
        Value::Null => Err(NOT_NULL.into()),
        _ => Err("must be a string".into()),
    }
}
