//! `sessionguard presign`'s flags for the request fields beyond the object, method and expiry:
//! one flag per field of [`FIELDS`] that declares one (`--version-id`, `--content-md5`, ...),
//! named, helped and grouped from that declaration, so a new field is a new flag without a line
//! here. Their values become the body of `POST /v1/presign`, checked by the same code.

use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};
use serde_json::{Map, Value};

use super::problems::Problems;
use crate::presign::FIELDS;
use crate::presign::request::fields::{Flag, FlagValue, Place, SentAs};
use crate::presign::request::operation::GET_ONLY;

/// `presign --help` heading of the request fields that name a version.
const VERSION: &str = "GET, HEAD and DELETE";
/// `presign --help` heading of the request fields that change what S3 answers a GET with.
const GET_OVERRIDES: &str = "GET response overrides";
/// `presign --help` heading of the request fields a PUT must send as headers.
const PUT_HEADERS: &str = "PUT signed headers (send each as printed)";

/// The values given, by field name, in [`FIELDS`] order.
#[derive(Debug, Clone, Default)]
pub struct PresignFieldArgs {
    pub given: Vec<(&'static str, Vec<String>)>,
}

/// The fields that have a flag, with it.
fn flagged() -> impl Iterator<Item = (&'static str, &'static Place, Flag)> {
    FIELDS
        .iter()
        .filter_map(|f| Some((f.name, &f.place, f.place.flag?)))
}

/// `--version-id` for `version_id`.
fn long(name: &str) -> String {
    name.replace('_', "-")
}

fn heading(place: &Place) -> &'static str {
    match place.sent_as {
        SentAs::Query(_) if place.operations == GET_ONLY => GET_OVERRIDES,
        SentAs::Query(_) | SentAs::Request => VERSION,
        SentAs::Header(_) | SentAs::HeaderPerEntry(_) => PUT_HEADERS,
    }
}

impl Args for PresignFieldArgs {
    fn augment_args(mut cmd: Command) -> Command {
        for (name, place, flag) in flagged() {
            let arg = Arg::new(name)
                .long(long(name))
                .help(flag.help)
                .help_heading(heading(place));
            cmd = cmd.arg(match flag.value {
                FlagValue::Pairs => arg.value_name("KEY=VALUE").action(ArgAction::Append),
                FlagValue::Text | FlagValue::Number => arg
                    .value_name(name.to_ascii_uppercase())
                    .action(ArgAction::Set),
            });
        }
        cmd
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for PresignFieldArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut args = PresignFieldArgs::default();
        args.update_from_arg_matches(matches)?;
        Ok(args)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for (name, _, _) in flagged() {
            if let Some(values) = matches.get_many::<String>(name) {
                self.given.retain(|(n, _)| *n != name);
                self.given.push((name, values.cloned().collect()));
            }
        }
        Ok(())
    }
}

impl PresignFieldArgs {
    /// Adds the given fields to `body`: text as strings, numbers as numbers when they are one
    /// (the body's own check names anything else), `KEY=VALUE` pairs as objects. Texts go first,
    /// then numbers, then pairs: of two bad fields the body names the first, as it always has.
    pub(super) fn insert_into(&self, body: &mut Map<String, Value>, p: &mut Problems) {
        let kinds = [FlagValue::Text, FlagValue::Number, FlagValue::Pairs];
        let in_order = kinds
            .into_iter()
            .flat_map(|kind| flagged().filter(move |(_, _, flag)| flag.value == kind));
        for (name, _, flag) in in_order {
            let Some((_, values)) = self.given.iter().find(|(n, _)| *n == name) else {
                continue;
            };
            let value = match flag.value {
                FlagValue::Text => values.last().cloned().map(Value::from),
                FlagValue::Number => values.last().map(|v| match v.trim().parse::<u64>() {
                    Ok(n) => n.into(),
                    Err(_) => v.clone().into(),
                }),
                FlagValue::Pairs => pairs(name, values, p),
            };
            if let Some(value) = value {
                body.insert(name.into(), value);
            }
        }
    }
}

/// `KEY=VALUE` pairs as an object, or `None` when one of them is a problem.
fn pairs(name: &str, values: &[String], p: &mut Problems) -> Option<Value> {
    let mut object = Map::new();
    let before = p.0.len();
    let flag = long(name);
    for pair in values {
        match pair.split_once('=') {
            Some((key, _)) if object.contains_key(key) => {
                p.0.push(format!("--{flag} {pair:?}: {key:?} is given twice"))
            }
            Some((key, value)) => {
                object.insert(key.to_string(), value.into());
            }
            None => p.0.push(format!("--{flag} {pair:?}: expected KEY=VALUE")),
        }
    }
    (p.0.len() == before && !object.is_empty()).then(|| object.into())
}
