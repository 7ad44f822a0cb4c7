//! The demo endpoint's STS: `GetCallerIdentity` and `AssumeRole` at [`STS_PATH`](super::STS_PATH).
//!
//! Query protocol in, XML out, answered only for access keys the endpoint issued (anything else
//! gets STS's `InvalidClientTokenId`). `AssumeRole` answers as real STS does for task-role
//! credentials: role chaining, so at most an hour; the session it hands out is issued and recorded
//! like one from the credentials path, so identity lookups and `--signing-source assume-role` work
//! with no AWS account.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;

use super::sessions::{HandedOut, random_upper};
use super::{ACCOUNT, Handler, ROLE_ARN, response};
use crate::clock;

impl Handler {
    /// STS `GetCallerIdentity` (query protocol, XML answer) for keys this endpoint issued.
    pub(super) async fn caller_identity(
        &self,
        request: Request<Incoming>,
    ) -> Response<Full<Bytes>> {
        let authorization = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = Limited::new(request.into_body(), 64 * 1024)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let known = {
            let inner = self.lock();
            inner
                .issued_keys
                .iter()
                .any(|k| authorization.contains(&format!("Credential={k}/")))
        };
        let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
        let action = form.get("Action").map(String::as_str).unwrap_or_default();
        if action != "GetCallerIdentity" && action != "AssumeRole" {
            return sts_error(
                400,
                "InvalidAction",
                "only GetCallerIdentity and AssumeRole are served here",
            );
        }
        if !known {
            return sts_error(
                403,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
            );
        }
        if action == "AssumeRole" {
            return self.assume_role(&form);
        }
        let role = ROLE_ARN.rsplit('/').next().unwrap_or("role");
        let xml = format!(
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
             <GetCallerIdentityResult>\
             <Arn>arn:aws:sts::{ACCOUNT}:assumed-role/{role}/sessionguard-demo</Arn>\
             <UserId>AROADEMOEXAMPLE:sessionguard-demo</UserId>\
             <Account>{ACCOUNT}</Account>\
             </GetCallerIdentityResult>\
             <ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata>\
             </GetCallerIdentityResponse>"
        );
        xml_response(200, xml)
    }

    /// STS `AssumeRole` as real STS answers it for task-role credentials: role chaining, so more
    /// than an hour is refused with STS's own `ValidationError`.
    fn assume_role(&self, form: &HashMap<String, String>) -> Response<Full<Bytes>> {
        let (Some(role_arn), Some(session_name)) =
            (form.get("RoleArn"), form.get("RoleSessionName"))
        else {
            return sts_error(
                400,
                "MissingParameter",
                "RoleArn and RoleSessionName are required",
            );
        };
        let duration: u64 = match form.get("DurationSeconds").map(|d| d.parse()) {
            None => 3600,
            Some(Ok(d)) if (900..=43_200).contains(&d) => d,
            Some(_) => {
                return sts_error(
                    400,
                    "ValidationError",
                    "DurationSeconds must be between 900 and 43200",
                );
            }
        };
        if duration > 3600 {
            return sts_error(
                400,
                "ValidationError",
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
            );
        }
        let escape = |s: &str| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        };
        let role = escape(role_arn.rsplit('/').next().unwrap_or("role"));
        let account = escape(role_arn.split(':').nth(4).unwrap_or(ACCOUNT));
        let session_name = escape(session_name);
        let expiration = clock::whole_second(self.clock.now()) + Duration::from_secs(duration);
        let access_key_id = format!("ASIA{}", random_upper(16));
        let session_token = format!("IQoJb3JpZ2luX2Vj{}", random_upper(120));
        {
            let mut inner = self.lock();
            inner.issued_keys.push(access_key_id.clone());
            inner.handed_out.push(HandedOut {
                access_key_id: access_key_id.clone(),
                session_token: Some(session_token.clone()),
                expiration: Some(expiration),
            });
        }
        let xml = format!(
            "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
             <AssumeRoleResult>\
             <Credentials>\
             <AccessKeyId>{access_key_id}</AccessKeyId>\
             <SecretAccessKey>{}</SecretAccessKey>\
             <SessionToken>{session_token}</SessionToken>\
             <Expiration>{}</Expiration>\
             </Credentials>\
             <AssumedRoleUser>\
             <Arn>arn:aws:sts::{account}:assumed-role/{role}/{session_name}</Arn>\
             <AssumedRoleId>AROADEMOEXAMPLE:{session_name}</AssumedRoleId>\
             </AssumedRoleUser>\
             </AssumeRoleResult>\
             <ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata>\
             </AssumeRoleResponse>",
            random_upper(40),
            clock::rfc3339(expiration),
        );
        xml_response(200, xml)
    }
}

fn xml_response(status: u16, body: String) -> Response<Full<Bytes>> {
    response(status, "text/xml", body)
}

fn sts_error(status: u16, code: &str, message: &str) -> Response<Full<Bytes>> {
    xml_response(
        status,
        format!(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
             <Code>{code}</Code><Message>{message}</Message></Error><RequestId>0</RequestId></ErrorResponse>"
        ),
    )
}
