//! Builds presigned URLs with aws-sdk-s3's endpoint rules and aws-sigv4, the signer the SDK itself
//! uses.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::error::PresignError;
use super::request::PresignRequest;
use crate::credentials::Snapshot;
use crate::text::error_chain;

/// Most buckets whose resolved endpoint is kept.
const MAX_CACHED_ENDPOINTS: usize = 1024;

/// Where a bucket's objects live and which region signs for them.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedEndpoint {
    /// The bucket's base URL, no trailing slash: `https://BUCKET.s3.REGION.amazonaws.com`, or
    /// `ENDPOINT/BUCKET` in path style.
    pub(crate) url: Arc<str>,
    pub(crate) signing_region: Arc<str>,
}

/// A presigned request: the URL and the headers the client must send with it.
#[derive(Debug, Clone)]
pub struct SignedUrl {
    pub url: String,
    /// Every signed header besides `host`, lowercase, as the client must send it.
    pub headers: Vec<(Cow<'static, str>, String)>,
}

/// Builds presigned URLs: aws-sdk-s3's endpoint resolution (virtual-hosted or path style, custom
/// endpoints, the `authSchemes` signing region) and aws-sigv4, the signer the SDK itself uses, with
/// the settings the SDK's S3 presigning uses (query-string signature, `UNSIGNED-PAYLOAD`, no
/// double encoding, no path normalisation).
///
/// Calling the signer directly instead of the SDK's operation pipeline costs about a third: the
/// pipeline runs a dozen interceptors to produce the same URL (see BENCHMARKS.md). A unit test
/// holds the two to the same URL.
pub struct Signer {
    region: String,
    /// `AWS_ENDPOINT_URL_S3` (or the profile's `endpoint_url`, or `AWS_ENDPOINT_URL`), as the SDK
    /// resolves it.
    endpoint_url: Option<String>,
    force_path_style: bool,
    resolver: aws_sdk_s3::config::endpoint::DefaultResolver,
    /// Resolved endpoints by bucket: S3's rules for GetObject/PutObject depend on the bucket and
    /// the fixed configuration only, and walking them costs more than signing. Bounded, because
    /// the one-shot command has no allow-list (the daemon only signs for allowed buckets).
    endpoints: Mutex<std::collections::HashMap<String, ResolvedEndpoint>>,
    /// The signing identity of the snapshot last signed with (converted once per rotation).
    cached: Mutex<
        Option<(
            Arc<Snapshot>,
            aws_smithy_runtime_api::client::identity::Identity,
        )>,
    >,
}

impl Signer {
    pub fn new(region: String, endpoint_url: Option<String>, force_path_style: bool) -> Self {
        Signer {
            region,
            endpoint_url,
            force_path_style,
            resolver: aws_sdk_s3::config::endpoint::DefaultResolver::new(),
            endpoints: Mutex::new(std::collections::HashMap::new()),
            cached: Mutex::new(None),
        }
    }

    /// The endpoint URL the SDK would use for S3 from this configuration.
    pub fn endpoint_url_from(sdk: &aws_config::SdkConfig) -> Option<String> {
        let key = aws_types::service_config::ServiceConfigKey::builder()
            .service_id("S3")
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .expect("all fields set");
        sdk.service_config()
            .and_then(|c| c.load_config(key))
            .or_else(|| sdk.endpoint_url().map(str::to_string))
    }

    fn identity(
        &self,
        snapshot: &Arc<Snapshot>,
    ) -> aws_smithy_runtime_api::client::identity::Identity {
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((for_snapshot, identity)) = cached.as_ref()
            && Arc::ptr_eq(for_snapshot, snapshot)
        {
            return identity.clone();
        }
        let identity = snapshot.credentials.clone().into();
        *cached = Some((snapshot.clone(), identity));
        cached.as_ref().expect("just set").1.clone()
    }

    /// The bucket's endpoint, resolved by aws-sdk-s3's rules once per bucket.
    pub(crate) async fn endpoint(&self, bucket: &str) -> Result<ResolvedEndpoint, PresignError> {
        use aws_sdk_s3::config::endpoint::{Params, ResolveEndpoint};
        if let Some(found) = self
            .endpoints
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(bucket)
        {
            return Ok(found.clone());
        }
        let failed = |e: &(dyn std::error::Error + 'static)| PresignError::Signing(error_chain(e));
        let params = Params::builder()
            .bucket(bucket)
            .region(&self.region)
            .use_fips(false)
            .use_dual_stack(false)
            .accelerate(false)
            .force_path_style(self.force_path_style)
            .set_endpoint(self.endpoint_url.clone())
            .build()
            .map_err(|e| failed(&e))?;
        let endpoint = self
            .resolver
            .resolve_endpoint(&params)
            .await
            .map_err(|e| PresignError::Signing(error_chain(e.as_ref())))?;
        let signing_region = endpoint
            .properties()
            .get("authSchemes")
            .and_then(|schemes| schemes.as_array())
            .and_then(|schemes| schemes.first())
            .and_then(|scheme| scheme.as_object())
            .and_then(|scheme| scheme.get("signingRegion"))
            .and_then(|region| region.as_string())
            .unwrap_or(&self.region);
        let resolved = ResolvedEndpoint {
            url: endpoint.url().trim_end_matches('/').into(),
            signing_region: signing_region.into(),
        };
        let mut endpoints = self.endpoints.lock().unwrap_or_else(|e| e.into_inner());
        if endpoints.len() >= MAX_CACHED_ENDPOINTS {
            endpoints.clear();
        }
        endpoints.insert(bucket.to_string(), resolved.clone());
        Ok(resolved)
    }

    /// Signs `request` for `expires_in` seconds from `start`.
    pub async fn sign(
        &self,
        snapshot: &Arc<Snapshot>,
        request: &PresignRequest,
        start: SystemTime,
        expires_in: u64,
    ) -> Result<SignedUrl, PresignError> {
        use aws_sigv4::http_request::{
            PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
            SignatureLocation, SigningSettings, UriPathNormalizationMode, sign,
        };
        let failed = |e: &(dyn std::error::Error + 'static)| PresignError::Signing(error_chain(e));
        let endpoint = self.endpoint(&request.bucket).await?;
        // The SDK's `/{Key+}` label: every byte percent-encoded except unreserved ones and `/`.
        let mut url = format!(
            "{}/{}",
            endpoint.url,
            aws_smithy_http::label::fmt_string(
                &request.key,
                aws_smithy_http::label::EncodingStrategy::Greedy
            )
        );
        // `versionId` and the `response-*` overrides go into the URL before signing, so the
        // signature covers them; encoded as the signer encodes its own parameters.
        push_query(&mut url, &request.query);

        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(expires_in));
        let identity = self.identity(snapshot);
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&endpoint.signing_region)
            .name("s3")
            .time(start)
            .settings(settings)
            .build()
            .map_err(|e| failed(&e))?
            .into();
        // Every header is signed: aws-sigv4 leaves out only `authorization`, `user-agent`,
        // `x-amzn-trace-id` and `transfer-encoding` by default, none of which a request carries.
        let signable = SignableRequest::new(
            request.method.as_str(),
            url.as_str(),
            request
                .headers
                .iter()
                .map(|(k, v)| (k.as_ref(), v.as_str())),
            SignableBody::UnsignedPayload,
        )
        .map_err(|e| failed(&e))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| failed(&e))?
            .into_parts();
        // What `apply_to_request_http1x` does (the same percent-encoder, the same order), without
        // parsing the ~1 KB URL three more times: on the hot path that parsing cost more than
        // hashing.
        let (_, query) = instructions.into_parts();
        push_query(&mut url, &query);
        Ok(SignedUrl {
            url,
            headers: request.headers.clone(),
        })
    }
}

/// Appends `params` to `url`'s query (after `?`, or `&` when it has one), each name and value
/// percent-encoded as aws-sigv4 encodes the canonical query.
fn push_query<N: AsRef<str>, V: AsRef<str>>(url: &mut String, params: &[(N, V)]) {
    if params.is_empty() {
        return;
    }
    let mut separator = if url.contains('?') { '&' } else { '?' };
    for (name, value) in params {
        url.push(separator);
        separator = '&';
        url.push_str(&aws_smithy_http::query::fmt_string(name.as_ref()));
        url.push('=');
        url.push_str(&aws_smithy_http::query::fmt_string(value.as_ref()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::testing;
    use aws_credential_types::Credentials;
    use serde_json::{Value, json};

    fn parse(v: &Value) -> PresignRequest {
        PresignRequest::from_json(v.to_string().as_bytes()).unwrap()
    }

    /// An S3 client configured as the signer under test: eu-west-1, `endpoint` (path style when
    /// `path_style`), signing with `creds`.
    fn sdk_client(
        creds: &Credentials,
        endpoint: Option<&str>,
        path_style: bool,
    ) -> aws_sdk_s3::Client {
        let mut config = aws_sdk_s3::config::Builder::new()
            .region(aws_sdk_s3::config::Region::new("eu-west-1"))
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .credentials_provider(creds.clone())
            .force_path_style(path_style);
        if let Some(e) = endpoint {
            config = config.endpoint_url(e);
        }
        aws_sdk_s3::Client::from_conf(config.build())
    }

    /// What aws-sdk-s3's own presigning produces for the same body: the URL and the headers it
    /// says to send, set through the SDK's builder for each field.
    async fn sdk_presigned(
        body: &Value,
        client: &aws_sdk_s3::Client,
        start: SystemTime,
    ) -> (String, Vec<(String, String)>) {
        use aws_sdk_s3::presigning::PresigningConfig;
        use aws_smithy_types::date_time::{DateTime, Format};
        let presigning = PresigningConfig::builder()
            .start_time(start)
            .expires_in(Duration::from_secs(600))
            .build()
            .unwrap();
        let text = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_string);
        let (bucket, key) = (text("bucket"), text("key"));
        let signed = match body["method"].as_str().unwrap_or("GET") {
            "GET" => client
                .get_object()
                .set_bucket(bucket)
                .set_key(key)
                .set_version_id(text("version_id"))
                .set_response_content_type(text("response_content_type"))
                .set_response_content_disposition(text("response_content_disposition"))
                .set_response_content_encoding(text("response_content_encoding"))
                .set_response_content_language(text("response_content_language"))
                .set_response_cache_control(text("response_cache_control"))
                .set_response_expires(
                    text("response_expires")
                        .map(|t| DateTime::from_str(&t, Format::HttpDate).unwrap()),
                )
                .presigned(presigning)
                .await
                .unwrap(),
            "HEAD" => client
                .head_object()
                .set_bucket(bucket)
                .set_key(key)
                .set_version_id(text("version_id"))
                .presigned(presigning)
                .await
                .unwrap(),
            "DELETE" => client
                .delete_object()
                .set_bucket(bucket)
                .set_key(key)
                .set_version_id(text("version_id"))
                .presigned(presigning)
                .await
                .unwrap(),
            "PUT" => sdk_put(client, body).presigned(presigning).await.unwrap(),
            other => unreachable!("{other} is not asked for here"),
        };
        let headers = signed
            .headers()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect();
        (signed.uri().to_string(), headers)
    }

    /// A PutObject with every header field of the body.
    fn sdk_put(
        client: &aws_sdk_s3::Client,
        body: &Value,
    ) -> aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder {
        use aws_sdk_s3::types::{ServerSideEncryption, StorageClass};
        let text = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_string);
        client
            .put_object()
            .set_bucket(text("bucket"))
            .set_key(text("key"))
            .set_content_type(text("content_type"))
            .set_content_length(body.get("content_length").and_then(Value::as_i64))
            .set_content_md5(text("content_md5"))
            .set_checksum_sha256(text("checksum_sha256"))
            .set_checksum_crc32(text("checksum_crc32"))
            .set_checksum_crc32_c(text("checksum_crc32c"))
            .set_server_side_encryption(
                text("server_side_encryption").map(|s| ServerSideEncryption::from(s.as_str())),
            )
            .set_ssekms_key_id(text("sse_kms_key_id"))
            .set_metadata(body.get("metadata").map(|m| {
                m.as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect()
            }))
            .set_tagging(body.get("tagging").map(|t| {
                let mut encoded = form_urlencoded::Serializer::new(String::new());
                for (k, v) in t.as_object().unwrap() {
                    encoded.append_pair(k, v.as_str().unwrap());
                }
                encoded.finish()
            }))
            .set_storage_class(text("storage_class").map(|s| StorageClass::from(s.as_str())))
            .set_cache_control(text("cache_control"))
            .set_content_disposition(text("content_disposition"))
            .set_content_encoding(text("content_encoding"))
    }

    /// Scheme, host and path, and the query without the SDK's `x-id` and the signature (which
    /// covers `x-id`), sorted: `X-Amz-SignedHeaders` is among them.
    fn comparable(url: &str) -> (String, Vec<String>) {
        let (base, query) = url.split_once('?').unwrap();
        let mut params: Vec<String> = query
            .split('&')
            .filter(|p| !p.starts_with("x-id=") && !p.starts_with("X-Amz-Signature="))
            .map(str::to_string)
            .collect();
        params.sort();
        (base.to_string(), params)
    }

    /// Keys whose encoding is easy to get wrong: spaces, `+`, `~`, a literal `%20`, empty path
    /// segments, non-ASCII, the URL's own delimiters, a leading slash.
    const TRICKY_KEYS: [&str; 9] = [
        "plain.csv",
        "with space.txt",
        "plus+sign",
        "tilde~name",
        "percent%20literal",
        "double//slash",
        "ünïcödé/日本語.txt",
        "q?and=amp&hash#",
        "/leading",
    ];

    /// The fields added to each key's body, as JSON: every method, every field, versions.
    const FIELD_SETS: [&str; 10] = [
        r#"{}"#,
        r#"{"method": "PUT", "content_type": "text/csv"}"#,
        r#"{"method": "HEAD"}"#,
        r#"{"method": "HEAD", "version_id": "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"}"#,
        r#"{"method": "DELETE"}"#,
        r#"{"method": "DELETE", "version_id": "null"}"#,
        r#"{"version_id": "v/1+2=3", "response_content_type": "text/csv; charset=utf-8",
            "response_content_disposition": "attachment; filename=\"a b.csv\"; filename*=UTF-8''%C3%A9t%C3%A9.csv",
            "response_content_encoding": "gzip", "response_content_language": "fr-CH",
            "response_cache_control": "private, max-age=60",
            "response_expires": "Wed, 21 Oct 2026 07:28:00 GMT"}"#,
        r#"{"method": "PUT", "content_type": "text/csv", "content_length": 11,
            "content_md5": "XrY7u+Ae7tCTyyK7j1rNww==", "server_side_encryption": "aws:kms",
            "checksum_sha256": "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=",
            "sse_kms_key_id": "arn:aws:kms:eu-west-1:123456789012:alias/uploads",
            "metadata": {"project": "q3", "owner-id": "42"}, "storage_class": "STANDARD_IA",
            "tagging": {"team": "data eng", "pii": "no&yes=maybe"}, "cache_control": "max-age=3600",
            "content_disposition": "attachment; filename=\"q3.csv\"", "content_encoding": "gzip"}"#,
        r#"{"method": "PUT", "checksum_crc32": "AAAAAA==", "server_side_encryption": "AES256"}"#,
        r#"{"method": "PUT", "checksum_crc32c": "yZRlqg==", "server_side_encryption": "aws:kms:dsse",
            "storage_class": "EXPRESS_ONEZONE"}"#,
    ];

    /// The direct signer builds the same URL as aws-sdk-s3's presigning (host, encoded key path,
    /// signed query parameters, credential scope, signed headers, token) and asks for the same
    /// headers, for tricky keys, every method and every field, virtual-hosted and path style;
    /// s3s-fs verifies its signatures in the integration tests.
    #[tokio::test]
    async fn same_url_as_the_sdk() {
        let start = testing::start();
        let creds = testing::session_credentials(start + Duration::from_secs(3600));
        let snapshot = Arc::new(Snapshot::new(creds.clone()));
        for (endpoint, path_style) in [(None, false), (Some("http://127.0.0.1:9000"), true)] {
            let signer = Signer::new("eu-west-1".into(), endpoint.map(str::to_string), path_style);
            let client = sdk_client(&creds, endpoint, path_style);
            for key in TRICKY_KEYS {
                for fields in FIELD_SETS {
                    let mut body = json!({"bucket": "reports", "key": key, "expires_in": 600});
                    let fields: Value = serde_json::from_str(fields).unwrap();
                    for (k, v) in fields.as_object().unwrap() {
                        body[k] = v.clone();
                    }
                    let ours = signer
                        .sign(&snapshot, &parse(&body), start, 600)
                        .await
                        .unwrap();
                    let sdk = sdk_presigned(&body, &client, start).await;
                    assert_same_presign(&ours, sdk, &body);
                }
            }
        }
    }

    /// `ours` and the SDK's URL and headers agree: the comparable URL always, the signature too
    /// when the SDK added no `x-id`, and the headers in any order.
    fn assert_same_presign(ours: &SignedUrl, sdk: (String, Vec<(String, String)>), body: &Value) {
        let (sdk_url, mut sdk_headers) = sdk;
        assert_eq!(comparable(&ours.url), comparable(&sdk_url), "{body}");
        if !sdk_url.contains("x-id=") {
            // HeadObject carries no `x-id`: the signatures themselves are equal.
            let signature = |url: &str| {
                url.split(['?', '&'])
                    .find(|p| p.starts_with("X-Amz-Signature="))
                    .map(str::to_string)
            };
            assert_eq!(signature(&ours.url), signature(&sdk_url), "{body}");
        }
        let mut our_headers: Vec<(String, String)> = ours
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        our_headers.sort();
        sdk_headers.sort();
        assert_eq!(our_headers, sdk_headers, "{body}");
    }

    /// Every value the request types accept is signable: header names of every token character,
    /// values and query parameters of every printable ASCII character. A refusal here would be
    /// a 500 for a valid request.
    #[tokio::test]
    async fn every_accepted_value_signs() {
        let start = testing::start();
        let creds = Credentials::new("AKIAEXAMPLE", "secret", None, None, "test");
        let snapshot = Arc::new(Snapshot::new(creds));
        let signer = Signer::new("us-east-1".into(), None, false);
        let printable: String = (b' '..=b'~')
            .map(char::from)
            .collect::<String>()
            .replace("  ", " ");
        let printable = printable.trim();
        for body in [
            json!({"bucket": "abc", "key": "k", "method": "PUT", "expires_in": 60,
                "metadata": {"az09!#$%&'*+-.^_`|~AZ": printable},
                "tagging": {printable: printable, "ü 日本": "\u{a0}é"},
                "cache_control": printable, "content_type": printable,
                "content_disposition": printable, "content_encoding": printable,
                "server_side_encryption": "aws:kms", "sse_kms_key_id": "!~"}),
            json!({"bucket": "abc", "key": "k", "expires_in": 60, "version_id": "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
                "response_content_disposition": printable, "response_content_type": printable,
                "response_expires": "0001-01-01T00:00:00Z"}),
            json!({"bucket": "abc", "key": "k", "expires_in": 60, "response_expires": "9999-12-31T23:59:59Z"}),
        ] {
            let request = parse(&body);
            signer
                .sign(&snapshot, &request, start, 60)
                .await
                .unwrap_or_else(|e| panic!("{body}: {e}"));
        }
    }
}
