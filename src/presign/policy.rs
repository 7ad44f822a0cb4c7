//! Which presigned URLs the daemon may hand out: `--presign-allow` rules.
//!
//! A rule is `[METHODS:]BUCKET[/PREFIX]`, e.g. `GET:reports/exports/`, `PUT:uploads/incoming/`,
//! `GET,PUT:scratch`. A request matches when its method is listed (both when none are) and its key
//! starts with the prefix. With no rule at all, presigning is off: a sidecar must not sign for any
//! bucket its task role can reach just because someone on loopback asked.

use std::fmt;

/// The HTTP method a presigned URL is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Put,
}

impl Method {
    pub fn parse(text: &str) -> Option<Method> {
        match text.trim().to_ascii_uppercase().as_str() {
            "GET" => Some(Method::Get),
            "PUT" => Some(Method::Put),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Put => "PUT",
        }
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
    /// Empty: every method.
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
                        Method::parse(m)
                            .ok_or_else(|| format!("unknown method {m:?} (expected GET or PUT)"))
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
        if let Err(why) = check_bucket(bucket) {
            return Err(format!("bucket {bucket:?} {why}"));
        }
        Ok(Rule {
            methods,
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        })
    }

    fn allows(&self, method: Method, bucket: &str, key: &str) -> bool {
        (self.methods.is_empty() || self.methods.contains(&method))
            && self.bucket == bucket
            && key.starts_with(&self.prefix)
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

/// The allow-list, or no restriction at all for the one-shot `presign` command (the operator is
/// the user there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    AllowList(Vec<Rule>),
    Unrestricted,
}

impl Policy {
    /// `Err` carries the message a 403 shows.
    pub fn check(&self, method: Method, bucket: &str, key: &str) -> Result<(), String> {
        match self {
            Policy::Unrestricted => Ok(()),
            Policy::AllowList(rules) if rules.is_empty() => Err(
                "presigning is off: no --presign-allow rule (env SESSIONGUARD_PRESIGN_ALLOW) is set"
                    .to_string(),
            ),
            Policy::AllowList(rules) => {
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
pub fn check_bucket(bucket: &str) -> Result<(), &'static str> {
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
        assert!(
            Rule::parse("DELETE:x-bucket")
                .unwrap_err()
                .contains("DELETE")
        );
        assert!(
            Rule::parse("GET:Bad_Bucket")
                .unwrap_err()
                .contains("lowercase")
        );
        assert!(Rule::parse("ab").unwrap_err().contains("3 to 63"));
    }

    /// Method, bucket and prefix must all match; no rule at all refuses everything.
    #[test]
    fn matching() {
        let policy = Policy::AllowList(vec![
            Rule::parse("GET:reports/exports/").unwrap(),
            Rule::parse("PUT:uploads/incoming/").unwrap(),
            Rule::parse("scratch").unwrap(),
        ]);
        let cases = [
            (Method::Get, "reports", "exports/a.csv", true),
            (Method::Put, "reports", "exports/a.csv", false),
            (Method::Get, "reports", "private/a.csv", false),
            (Method::Get, "other", "exports/a.csv", false),
            (Method::Put, "uploads", "incoming/x", true),
            (Method::Get, "scratch", "anything", true),
            (Method::Put, "scratch", "any/thing", true),
        ];
        for (method, bucket, key, want) in cases {
            assert_eq!(
                policy.check(method, bucket, key).is_ok(),
                want,
                "{method} {bucket}/{key}"
            );
        }
        let off = Policy::AllowList(vec![])
            .check(Method::Get, "reports", "x")
            .unwrap_err();
        assert!(off.contains("--presign-allow"), "{off}");
        assert!(
            Policy::Unrestricted
                .check(Method::Put, "any-bucket", "k")
                .is_ok()
        );
    }
}
