//! `openapi.yaml` stays in sync with the server: the same routes and methods, and every response a
//! running daemon gives matches the documented schema for its status.

use std::time::Duration;

use serde_json::{Value, json};
use sessionguard::demo::endpoint::Options;
use sessionguard::presign::FIELDS;
use sessionguard::presign::request::fields::SentAs;
use sessionguard::presign::request::operation::{EVERY, Operation};

use crate::support::*;

fn spec() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

/// Follows a local `$ref`.
fn resolve<'a>(spec: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => spec
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("bad $ref {r}")),
        None => schema,
    }
}

/// Checks `value` against the OpenAPI subset the spec uses: type, nullable, enum, required,
/// properties, additionalProperties, oneOf, array items.
fn check(spec: &Value, schema: &Value, value: &Value, at: &str) {
    let schema = resolve(spec, schema);
    if let Some(options) = schema["oneOf"].as_array() {
        assert!(
            options
                .iter()
                .any(|o| std::panic::catch_unwind(|| check(spec, o, value, at)).is_ok()),
            "{at}: {value} matches no oneOf"
        );
        return;
    }
    if value.is_null() {
        assert_eq!(schema["nullable"], true, "{at}: null but not nullable");
        return;
    }
    match schema["type"].as_str() {
        Some("string") => assert!(value.is_string(), "{at}: {value} is not a string"),
        Some("integer") => assert!(
            value.is_i64() || value.is_u64(),
            "{at}: {value} is not an integer"
        ),
        Some("boolean") => assert!(value.is_boolean(), "{at}: {value} is not a boolean"),
        Some("object") => {
            let object = value
                .as_object()
                .unwrap_or_else(|| panic!("{at}: {value} is not an object"));
            for required in schema["required"].as_array().into_iter().flatten() {
                let name = required.as_str().unwrap();
                assert!(
                    object.contains_key(name),
                    "{at}: required {name} missing from {value}"
                );
            }
            let properties = schema["properties"].as_object();
            for (name, v) in object {
                match properties.and_then(|p| p.get(name)) {
                    Some(s) => check(spec, s, v, &format!("{at}.{name}")),
                    None => match &schema["additionalProperties"] {
                        Value::Bool(false) => {
                            panic!("{at}: undocumented property {name} in {value}")
                        }
                        Value::Object(_) => check(
                            spec,
                            &schema["additionalProperties"],
                            v,
                            &format!("{at}.{name}"),
                        ),
                        _ => {}
                    },
                }
            }
        }
        Some("array") => {
            let items = value
                .as_array()
                .unwrap_or_else(|| panic!("{at}: {value} is not an array"));
            if let Some(max) = schema["maxItems"].as_u64() {
                assert!(items.len() as u64 <= max, "{at}: more than {max} items");
            }
            for (i, item) in items.iter().enumerate() {
                check(spec, &schema["items"], item, &format!("{at}[{i}]"));
            }
        }
        other => panic!("{at}: schema type {other:?} not handled"),
    }
    if let Some(allowed) = schema["enum"].as_array() {
        assert!(allowed.contains(value), "{at}: {value} not in {allowed:?}");
    }
}

/// `body`, answered with `status` to `method path`, is documented and matches its schema.
pub(crate) fn assert_documented(path: &str, method: &str, status: u16, body: &str) {
    let spec = spec();
    let responses = &spec["paths"][path][method]["responses"];
    let documented = &responses[status.to_string()];
    assert!(
        !documented.is_null(),
        "{method} {path} answered undocumented {status}: {body}"
    );
    let schema = &documented["content"]["application/json"]["schema"];
    let value: Value = serde_json::from_str(body).unwrap();
    check(&spec, schema, &value, &format!("{method} {path} {status}"));
}

/// The spec documents exactly the routes and methods the server routes.
#[test]
fn same_routes_and_methods() {
    let spec = spec();
    let paths = spec["paths"].as_object().unwrap();
    let documented: Vec<(String, String)> = paths
        .iter()
        .flat_map(|(p, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (p.clone(), m.to_uppercase()))
        })
        .collect();
    let served: Vec<(String, String)> = sessionguard::http::routes::ROUTES
        .iter()
        .flat_map(|r| {
            r.methods
                .split(", ")
                .map(move |m| (r.path.to_string(), m.to_string()))
        })
        .collect();
    let mut a = documented.clone();
    let mut b = served.clone();
    a.sort();
    b.sort();
    assert_eq!(a, b, "openapi.yaml and routes::ROUTES differ");
}

/// Every operation has an `operationId`, each different: generated clients name their methods
/// after them instead of making names up.
#[test]
fn every_operation_has_its_own_id() {
    let spec = spec();
    let mut ids: Vec<&str> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object().unwrap().iter().map(move |(method, op)| {
                op["operationId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{method} {path} has no operationId"))
            })
        })
        .collect();
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count, "operationIds repeat: {ids:?}");
}

/// Each documented status of each route, produced by a running daemon, matches its schema; the
/// documented request fields are exactly the ones the server accepts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_match_the_schemas() {
    let spec = spec();
    let request_schema = resolve(
        &spec,
        &spec["paths"]["/v1/presign"]["post"]["requestBody"]["content"]["application/json"]["schema"],
    );
    let mut documented_fields: Vec<&str> = request_schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    documented_fields.sort();
    let mut accepted: Vec<&str> = FIELDS.iter().map(|f| f.name).collect();
    accepted.sort();
    assert_eq!(documented_fields, accepted);
    for field in FIELDS {
        let schema = &request_schema["properties"][field.name];
        let methods: Vec<&str> = resolve(&spec, schema)["x-methods"]
            .as_array()
            .map(|m| m.iter().map(|m| m.as_str().unwrap()).collect())
            .unwrap_or_default();
        assert_eq!(
            methods,
            plain_methods(field.place.operations),
            "openapi's x-methods of {}",
            field.name
        );
        let description = resolve(&spec, schema)["description"].as_str().unwrap_or("");
        let named = match field.place.sent_as {
            SentAs::Request => continue,
            SentAs::Header(name) | SentAs::Query(name) => format!("`{name}`"),
            SentAs::HeaderPerEntry(prefix) => format!("`{prefix}"),
        };
        let shared_override = schema["$ref"].is_string() && description.contains("`response-*`");
        assert!(
            description.contains(&named) || shared_override && named.starts_with("`response-"),
            "openapi's {} does not say it is sent as {named}: {description}",
            field.name
        );
    }

    let s3 = S3Server::start(&["reports"]);
    let mut options = Options::new(Duration::from_secs(600));
    options.key_pair = Some((S3_ACCESS_KEY.into(), S3_SECRET_KEY.into()));
    let endpoint = endpoint_with(options).await;
    let mut env = aws_env(&endpoint);
    set(&mut env, "AWS_ENDPOINT_URL_S3", &s3.endpoint());
    let d = Daemon::start(
        &env,
        &[
            "run",
            "--presign-allow",
            "GET:reports",
            "--s3-force-path-style",
            "--ready-min-remaining",
            "1h",
        ],
    )
    .await;
    d.wait_for_line(|l| l["message"] == "credentials checked")
        .await;

    let json_type = [("content-type", "application/json")];
    let presign =
        |body: &str, headers: &[(&str, &str)]| http(d.addr, "POST", "/v1/presign", headers, body);
    let exchanges: Vec<(&str, &str, (u16, String))> = vec![
        ("/healthz", "get", d.get("/healthz")),
        ("/readyz", "get", d.get("/readyz")),
        ("/v1/credentials", "get", d.get("/v1/credentials")),
        (
            "/v1/presign",
            "post",
            presign(
                &json!({"bucket": "reports", "key": "k", "expires_in": 60}).to_string(),
                &json_type,
            ),
        ),
        (
            "/v1/presign",
            "post",
            presign(
                &json!({"bucket": "reports", "key": "k", "expires_in": 60, "method": "HEAD", "version_id": "v1"})
                    .to_string(),
                &json_type,
            ),
        ),
        (
            "/v1/presign",
            "post",
            presign(
                &json!({"bucket": "reports", "key": "k", "expires_in": 0}).to_string(),
                &json_type,
            ),
        ),
        (
            "/v1/presign",
            "post",
            presign(
                &json!({"bucket": "reports", "key": "k", "expires_in": 60, "method": "PUT"})
                    .to_string(),
                &json_type,
            ),
        ),
        (
            "/v1/presign",
            "post",
            presign(
                &json!({"bucket": "reports", "key": "k", "expires_in": "2h"}).to_string(),
                &json_type,
            ),
        ),
        (
            "/v1/presign",
            "post",
            presign(&"x".repeat(20_000), &json_type),
        ),
        (
            "/v1/presign",
            "post",
            presign("{}", &[("content-type", "text/plain")]),
        ),
    ];
    let mut seen = Vec::new();
    for (path, method, (status, body)) in exchanges {
        assert_documented(path, method, status, &body);
        seen.push(status);
    }
    seen.sort();
    assert_eq!(
        seen,
        vec![200, 200, 200, 200, 400, 403, 409, 413, 415, 503],
        "every status exercised"
    );
}

/// The methods of the plain (not multipart) operations among `operations`, as `x-methods` lists
/// them; none for a field every operation takes.
fn plain_methods(operations: &[Operation]) -> Vec<&'static str> {
    if operations == EVERY {
        return Vec::new();
    }
    operations
        .iter()
        .filter_map(|o| match o {
            Operation::GetObject => Some("GET"),
            Operation::HeadObject => Some("HEAD"),
            Operation::PutObject => Some("PUT"),
            Operation::DeleteObject => Some("DELETE"),
            _ => None,
        })
        .collect()
}

/// README's table of signed PUT headers is the declaration's: a row per header field, in
/// [`FIELDS`] order, naming the field and the header it is sent as.
#[test]
fn readme_signed_headers_are_the_declared_ones() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("### Uploads with signed headers")
        .nth(1)
        .expect("README has the section on signed headers");
    let rows: Vec<(String, String)> = section
        .lines()
        .skip_while(|l| !l.starts_with("| field | signed header |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells[1].to_string(), cells[2].to_string())
        })
        .collect();
    let declared: Vec<(String, String)> = FIELDS
        .iter()
        .filter_map(|f| {
            let header = match f.place.sent_as {
                SentAs::Header(name) => format!("`{name}`"),
                SentAs::HeaderPerEntry(prefix) => format!("`{prefix}<name>` each"),
                _ => return None,
            };
            Some((format!("`{}`", f.name), header))
        })
        .collect();
    assert_eq!(rows, declared, "README's rows against the declaration");
}
