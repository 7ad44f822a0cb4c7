//! Which presigned URLs the daemon may hand out: `--presign-allow` rules.
//!
//! A rule is `[METHODS:]BUCKET[/PREFIX]`, e.g. `GET:reports/exports/`, `PUT:uploads/incoming/`,
//! `GET,PUT:scratch`, `DELETE,PUT:scratch/tmp/`. A request matches when a listed method grants its
//! method and its key starts with the prefix. A method grants what it implies: `GET` also `HEAD`
//! (the headers of what it may read), `PUT` also `POST` (a form upload is another way to write the
//! same object). A rule naming no method keeps the meaning it had before `HEAD`, `DELETE` and
//! `POST` existed, read and write, and never grants `DELETE`: upgrading sessionguard must not
//! widen what a deployment signs beyond new ways of doing what it already allowed.
//!
//! With no rule at all, presigning is off: a sidecar must not sign for any bucket its task role
//! can reach just because someone on loopback asked.

use std::fmt;

/// The HTTP method a presigned request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// GetObject: download.
    Get,
    /// HeadObject: does it exist, how big, its metadata.
    Head,
    /// PutObject: upload with a URL.
    Put,
    /// DeleteObject.
    Delete,
    /// A browser form upload (a presigned POST policy), never a URL of `/v1/presign`.
    Post,
}

/// Every method, in the order rules and messages list them.
pub const METHODS: [Method; 5] = [
    Method::Get,
    Method::Head,
    Method::Put,
    Method::Delete,
    Method::Post,
];

/// What a rule naming no method grants: what `GET` and `PUT` grant, never `DELETE`.
const UNNAMED_GRANTS: [Method; 4] = [Method::Get, Method::Head, Method::Put, Method::Post];

impl Method {
    pub fn parse(text: &str) -> Option<Method> {
        let text = text.trim();
        METHODS
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(text))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Post => "POST",
        }
    }

    /// Whether a rule naming `self` allows a request for `wanted`.
    pub fn grants(self, wanted: Method) -> bool {
        matches!(
            (self, wanted),
            (Method::Get, Method::Get | Method::Head)
                | (Method::Head, Method::Head)
                | (Method::Put, Method::Put | Method::Post)
                | (Method::Post, Method::Post)
                | (Method::Delete, Method::Delete)
        )
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One allow rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Empty: what `GET` and `PUT` grant, never `DELETE` (see the module doc).
    pub methods: Vec<Method>,
    pub bucket: String,
    /// Empty: every key in the bucket.
    pub prefix: String,
}

impl Rule {
    /// Parses `[METHODS:]BUCKET[/PREFIX]`.
    pub fn parse(text: &str) -> Result<Rule, String> {
        let text = text.trim();
        let (methods, target) = match text.split_once(':') {
            Some((methods, target)) => {
                let parsed = methods
                    .split(',')
                    .map(|m| {
                        Method::parse(m).ok_or_else(|| {
                            format!(
                                "unknown method {m:?} (expected GET, HEAD, PUT, DELETE or POST)"
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                (parsed, target)
            }
            None => (Vec::new(), text),
        };
        let (bucket, prefix) = match target.split_once('/') {
            Some((bucket, prefix)) => (bucket, prefix),
            None => (target, ""),
        };
        if let Err(why) = validate_bucket(bucket) {
            return Err(format!("bucket {bucket:?} {why}"));
        }
        if let Some(c) = prefix.chars().find(|c| !in_policy_charset(*c)) {
            return Err(format!(
                "prefix {prefix:?} holds {c:?} (U+{:04X}): IAM policy documents accept only tab, newline, carriage return and U+0020 to U+00FF, so no policy can grant it and S3 would refuse every URL signed for it",
                c as u32
            ));
        }
        Ok(Rule {
            methods,
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    /// Whether the rule grants `method` (on its bucket and prefix).
    pub fn allows_method(&self, method: Method) -> bool {
        if self.methods.is_empty() {
            UNNAMED_GRANTS.contains(&method)
        } else {
            self.methods.iter().any(|m| m.grants(method))
        }
    }

    fn allows(&self, method: Method, bucket: &str, key: &str) -> bool {
        self.allows_method(method) && self.bucket == bucket && key.starts_with(&self.prefix)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.methods.is_empty() {
            let methods: Vec<&str> = self.methods.iter().map(|m| m.as_str()).collect();
            write!(f, "{}:", methods.join(","))?;
        }
        write!(f, "{}", self.bucket)?;
        if !self.prefix.is_empty() {
            write!(f, "/{}", self.prefix)?;
        }
        Ok(())
    }
}

/// Whether IAM accepts `c` in a policy document (`\u0009 \u000A \u000D \u0020-\u00FF`): a prefix
/// outside it can be in no signer's policy.
fn in_policy_charset(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FF}')
}

/// What may be presigned: the `--presign-allow` rules and the `--kms-key-arn` keys uploads may
/// name, or no restriction at all for the one-shot `presign` command (the operator is the user
/// there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowList {
    Rules {
        rules: Vec<Rule>,
        /// KMS key ARNs an SSE-KMS upload may name: the signer's policy grants KMS on these only.
        kms_keys: Vec<String>,
    },
    Unrestricted,
}

impl AllowList {
    /// The rules, with no KMS key an upload may name (for tests).
    #[cfg(test)]
    pub fn rules(rules: Vec<Rule>) -> AllowList {
        AllowList::Rules {
            rules,
            kms_keys: Vec::new(),
        }
    }

    /// Whether an upload may name `key` as its SSE-KMS key (`None`: names none, so S3 uses the
    /// bucket's default or the AWS managed key). The signer's policy grants `kms:GenerateDataKey`
    /// only on the `--kms-key-arn` keys, and IAM authorises on the key's ARN, so only those ARNs,
    /// exactly, are keys S3 would accept the upload with: an alias or a bare key ID is refused
    /// (the sidecar cannot know which key it resolves to). `Err` carries the message a 403 shows.
    pub fn permits_kms_key(&self, key: Option<&str>) -> Result<(), String> {
        let (AllowList::Rules { kms_keys, .. }, Some(key)) = (self, key) else {
            return Ok(());
        };
        if kms_keys.iter().any(|k| k == key) {
            return Ok(());
        }
        let known = if kms_keys.is_empty() {
            "none is set".to_string()
        } else {
            kms_keys.join(", ")
        };
        Err(format!(
            "the KMS key {key:?} is not one of --kms-key-arn (env SESSIONGUARD_KMS_KEY_ARN; {known}): the signer's policy grants KMS only on those keys, so S3 would refuse the upload; name one of them by its ARN"
        ))
    }

    /// `Err` carries the message a 403 shows.
    pub fn permits(&self, method: Method, bucket: &str, key: &str) -> Result<(), String> {
        match self {
            AllowList::Unrestricted => Ok(()),
            AllowList::Rules { rules, .. } if rules.is_empty() => Err(
                "presigning is off: no --presign-allow rule (env SESSIONGUARD_PRESIGN_ALLOW) is set"
                    .to_string(),
            ),
            AllowList::Rules { rules, .. } => {
                if rules.iter().any(|r| r.allows(method, bucket, key)) {
                    Ok(())
                } else {
                    let list: Vec<String> = rules.iter().map(Rule::to_string).collect();
                    Err(format!(
                        "{method} s3://{bucket}/{key} matches no --presign-allow rule ({})",
                        list.join(", ")
                    ))
                }
            }
        }
    }
}

/// S3's bucket naming rules: 3 to 63 characters of lowercase letters, digits, dots and hyphens,
/// starting and ending with a letter or digit.
pub fn validate_bucket(bucket: &str) -> Result<(), &'static str> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-';
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !(3..=63).contains(&bucket.len()) {
        Err("must be 3 to 63 characters long")
    } else if !bucket.chars().all(ok_char) {
        Err("may hold only lowercase letters, digits, dots and hyphens")
    } else if !edge(bucket.chars().next()) || !edge(bucket.chars().last()) {
        Err("must start and end with a letter or digit")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The documented rule forms parse, and bad ones say why.
    #[test]
    fn parse_rules() {
        let r = Rule::parse("GET:reports/exports/").unwrap();
        assert_eq!(
            (r.methods.as_slice(), r.bucket.as_str(), r.prefix.as_str()),
            (&[Method::Get][..], "reports", "exports/")
        );
        let r = Rule::parse("GET,PUT:scratch").unwrap();
        assert_eq!(r.methods, vec![Method::Get, Method::Put]);
        assert_eq!(r.prefix, "");
        assert_eq!(Rule::parse("uploads/in/").unwrap().methods, vec![]);
        assert_eq!(
            Rule::parse("PUT:uploads/incoming/").unwrap().to_string(),
            "PUT:uploads/incoming/"
        );
        let r = Rule::parse("delete,Head,POST:x-bucket/tmp/").unwrap();
        assert_eq!(r.methods, vec![Method::Delete, Method::Head, Method::Post]);
        assert_eq!(r.to_string(), "DELETE,HEAD,POST:x-bucket/tmp/");
        let unknown = Rule::parse("PATCH:x-bucket").unwrap_err();
        assert!(
            unknown.contains("PATCH") && unknown.contains("DELETE"),
            "{unknown}"
        );
        assert!(
            Rule::parse("GET:Bad_Bucket")
                .unwrap_err()
                .contains("lowercase")
        );
        assert!(Rule::parse("ab").unwrap_err().contains("3 to 63"));
    }

    /// What each named method grants: GET also HEAD, PUT also POST (form uploads), the others
    /// only themselves.
    #[test]
    fn what_each_method_grants() {
        use Method::*;
        let cases = [
            (Get, [Get, Head].as_slice()),
            (Head, &[Head]),
            (Put, &[Put, Post]),
            (Post, &[Post]),
            (Delete, &[Delete]),
        ];
        for (named, granted) in cases {
            for wanted in METHODS {
                assert_eq!(
                    named.grants(wanted),
                    granted.contains(&wanted),
                    "{named} grants {wanted}?"
                );
            }
        }
    }

    /// Method, bucket and prefix must all match; a rule naming no method grants everything but
    /// DELETE; no rule at all refuses everything.
    #[test]
    fn matching() {
        use Method::*;
        let policy = AllowList::rules(vec![
            Rule::parse("GET:reports/exports/").unwrap(),
            Rule::parse("PUT:uploads/incoming/").unwrap(),
            Rule::parse("scratch").unwrap(),
            Rule::parse("DELETE,GET:trash/mine/").unwrap(),
            Rule::parse("POST:forms").unwrap(),
            Rule::parse("HEAD:probes").unwrap(),
        ]);
        let cases = [
            (Get, "reports", "exports/a.csv", true),
            (Head, "reports", "exports/a.csv", true),
            (Put, "reports", "exports/a.csv", false),
            (Post, "reports", "exports/a.csv", false),
            (Delete, "reports", "exports/a.csv", false),
            (Get, "reports", "private/a.csv", false),
            (Head, "reports", "private/a.csv", false),
            (Get, "other", "exports/a.csv", false),
            (Put, "uploads", "incoming/x", true),
            (Post, "uploads", "incoming/x", true),
            (Get, "uploads", "incoming/x", false),
            (Head, "uploads", "incoming/x", false),
            (Delete, "uploads", "incoming/x", false),
            // No method named: today's GET and PUT with what they imply, never DELETE.
            (Get, "scratch", "anything", true),
            (Head, "scratch", "anything", true),
            (Put, "scratch", "any/thing", true),
            (Post, "scratch", "any/thing", true),
            (Delete, "scratch", "anything", false),
            (Delete, "trash", "mine/old", true),
            (Get, "trash", "mine/old", true),
            (Head, "trash", "mine/old", true),
            (Put, "trash", "mine/old", false),
            (Delete, "trash", "theirs/old", false),
            (Post, "forms", "a", true),
            (Put, "forms", "a", false),
            (Head, "probes", "a", true),
            (Get, "probes", "a", false),
        ];
        for (method, bucket, key, want) in cases {
            assert_eq!(
                policy.permits(method, bucket, key).is_ok(),
                want,
                "{method} {bucket}/{key}"
            );
        }
        let refused = policy.permits(Delete, "scratch", "x").unwrap_err();
        assert!(refused.contains("DELETE s3://scratch/x"), "{refused}");
        let off = AllowList::rules(vec![])
            .permits(Get, "reports", "x")
            .unwrap_err();
        assert!(off.contains("--presign-allow"), "{off}");
        for method in METHODS {
            assert!(
                AllowList::Unrestricted
                    .permits(method, "any-bucket", "k")
                    .is_ok()
            );
        }
    }

    /// A prefix IAM cannot hold in a policy document is refused with the reason, so the sidecar
    /// never signs what no policy can grant; Latin-1 (up to U+00FF) is fine.
    #[test]
    fn prefix_outside_the_policy_charset() {
        let refused = Rule::parse("GET:odd/日本/").unwrap_err();
        assert!(
            refused.contains("U+65E5") && refused.contains("IAM policy documents"),
            "{refused}"
        );
        assert!(Rule::parse("GET:odd/emoji-\u{1F600}/").is_err());
        assert!(Rule::parse("GET:odd/bell\u{7}/").is_err());
        assert_eq!(Rule::parse("GET:odd/café ÿ/").unwrap().prefix, "café ÿ/");
    }

    /// An upload may name only a `--kms-key-arn` key, by that ARN; naming none is fine; the
    /// one-shot `presign` signs any key.
    #[test]
    fn kms_keys() {
        let arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let list = AllowList::Rules {
            rules: vec![Rule::parse("PUT:uploads").unwrap()],
            kms_keys: vec![arn.to_string()],
        };
        assert!(list.permits_kms_key(Some(arn)).is_ok());
        assert!(list.permits_kms_key(None).is_ok());
        for other in [
            "alias/uploads",
            "1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:eu-west-1:123456789012:key/other",
        ] {
            let why = list.permits_kms_key(Some(other)).unwrap_err();
            assert!(
                why.contains(other) && why.contains("--kms-key-arn"),
                "{why}"
            );
        }
        let none = AllowList::rules(vec![Rule::parse("PUT:uploads").unwrap()]);
        let why = none.permits_kms_key(Some(arn)).unwrap_err();
        assert!(why.contains("none is set"), "{why}");
        assert!(
            AllowList::Unrestricted
                .permits_kms_key(Some("alias/x"))
                .is_ok()
        );
    }
}
