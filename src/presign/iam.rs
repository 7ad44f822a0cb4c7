//! The IAM permissions behind the allow-list: what the signing principal needs so that every URL
//! and form the rules let the sidecar sign also works at S3, and nothing more.
//!
//! A presigned request is authorised as its signer: S3 checks the signer's IAM policy when the
//! URL is used, not when it is signed. A rule that allows a request the signer may not make is a
//! 200 from the sidecar and a 403 from S3 when the user clicks, the silent failure the project
//! exists to prevent. So the actions come from the same [`Rule`]s and [`Method::grants`] the
//! allow-list applies, one operation at a time, each with the reason it is needed
//! (S3's "Actions, resources, and condition keys" reference names the action of each operation).

use serde_json::{Value, json};

use super::allow_list::{METHODS, Method, Rule};

/// The policy language version that knows `${*}` and the other literal escapes.
pub const POLICY_VERSION: &str = "2012-10-17";

/// One action a rule needs, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub action: &'static str,
    /// The request the sidecar may sign that uses it.
    pub reason: &'static str,
}

/// The S3 actions on objects that requests of `method` (as the allow-list asks it) use.
fn s3_needs(method: Method) -> Vec<Need> {
    fn need(action: &'static str, reason: &'static str) -> Need {
        Need { action, reason }
    }
    match method {
        Method::Get => vec![
            need("s3:GetObject", "GET (GetObject)"),
            need("s3:GetObjectVersion", "GET with version_id"),
        ],
        Method::Head => vec![
            need(
                "s3:GetObject",
                "HEAD (HeadObject is authorised as GetObject)",
            ),
            need("s3:GetObjectVersion", "HEAD with version_id"),
        ],
        Method::Put => vec![
            need(
                "s3:PutObject",
                "PUT (PutObject), and a multipart upload's create, parts and complete",
            ),
            need(
                "s3:PutObjectTagging",
                "PUT or a multipart create with tagging",
            ),
            need(
                "s3:ListMultipartUploadParts",
                "GET with upload_id (ListParts), part of the multipart flow PUT allows",
            ),
            need(
                "s3:AbortMultipartUpload",
                "DELETE with upload_id (AbortMultipartUpload), part of the multipart flow PUT allows",
            ),
        ],
        Method::Post => vec![need("s3:PutObject", "a browser form upload (POST policy)")],
        Method::Delete => vec![
            need("s3:DeleteObject", "DELETE (DeleteObject)"),
            need("s3:DeleteObjectVersion", "DELETE with version_id"),
        ],
    }
}

/// The methods a rule grants, in [`METHODS`] order.
fn granted(rule: &Rule) -> Vec<Method> {
    METHODS
        .into_iter()
        .filter(|m| rule.allows_method(*m))
        .collect()
}

/// Every S3 action `rule` needs, each once, with the first reason that needs it.
pub fn rule_needs(rule: &Rule) -> Vec<Need> {
    let mut needs: Vec<Need> = Vec::new();
    for method in granted(rule) {
        for need in s3_needs(method) {
            if !needs.iter().any(|n| n.action == need.action) {
                needs.push(need);
            }
        }
    }
    needs
}

/// The KMS actions a KMS key named for the buckets needs, given what the rules allow.
pub fn kms_needs(rules: &[Rule]) -> Vec<Need> {
    let methods: Vec<Method> = rules.iter().flat_map(granted).collect();
    let writes = methods
        .iter()
        .any(|m| matches!(m, Method::Put | Method::Post));
    let reads = methods.contains(&Method::Get);
    let mut needs = Vec::new();
    if writes {
        needs.push(Need {
            action: "kms:GenerateDataKey",
            reason: "an upload (PUT, form, multipart) encrypted with the key",
        });
    }
    if writes || reads {
        needs.push(Need {
            action: "kms:Decrypt",
            reason: if reads {
                "GET of an object encrypted with the key (and completing a multipart upload)"
            } else {
                "completing a multipart upload encrypted with the key"
            },
        });
    }
    needs
}

/// `s` with IAM's wildcards made literal: a key prefix `a*b/` must not match `axxb/`.
fn literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '*' => out.push_str("${*}"),
            '?' => out.push_str("${?}"),
            '$' => out.push_str("${$}"),
            c => out.push(c),
        }
    }
    out
}

/// The objects a rule covers: `arn:PARTITION:s3:::BUCKET/PREFIX*`.
pub fn object_arn(partition: &str, rule: &Rule) -> String {
    format!(
        "arn:{partition}:s3:::{}/{}*",
        rule.bucket,
        literal(&rule.prefix)
    )
}

/// The partition of a region: `aws-cn` for China, `aws-us-gov` for GovCloud, else `aws`.
pub fn partition_of(region: Option<&str>) -> &'static str {
    match region {
        Some(r) if r.starts_with("cn-") => "aws-cn",
        Some(r) if r.starts_with("us-gov-") => "aws-us-gov",
        _ => "aws",
    }
}

/// The DNS suffix of a partition's service endpoints: `amazonaws.com.cn` in China.
pub fn dns_suffix(partition: &str) -> &'static str {
    match partition {
        "aws-cn" => "amazonaws.com.cn",
        _ => "amazonaws.com",
    }
}

/// The `kms:ViaService` value of S3 in `region`: `s3.eu-west-1.amazonaws.com`,
/// `s3.cn-north-1.amazonaws.com.cn`. KMS sets it when S3 calls it for a request to that region's
/// S3, so a statement conditioned on it lets the signer use the key through S3 only.
pub fn s3_via_service(region: &str) -> String {
    let partition = partition_of(Some(region));
    format!("s3.{region}.{}", dns_suffix(partition))
}

/// A statement id from a rule: IAM allows only ASCII letters and digits.
fn sid(prefix: &str, rule: &Rule) -> String {
    let text = format!("{prefix} {} {}", rule.bucket, rule.prefix);
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            let first = chars.next().map(|c| c.to_ascii_uppercase());
            first.into_iter().chain(chars).collect::<String>()
        })
        .collect()
}

/// The statements the signing principal needs for `rules` (and `kms_keys`, when uploads or
/// downloads use SSE-KMS): one per object resource, with the union of its rules' actions, sorted.
/// Statement ids are unique within the policy, as IAM requires: rules whose bucket and prefix
/// differ only in punctuation get `2`, `3`, ... appended. The KMS statement holds only through
/// S3 in `region` (`kms:ViaService`), so the signer cannot call KMS itself.
pub fn signer_statements(
    partition: &str,
    region: &str,
    rules: &[Rule],
    kms_keys: &[String],
) -> Vec<Value> {
    let mut by_resource: Vec<(String, &Rule, Vec<&'static str>)> = Vec::new();
    for rule in rules {
        let resource = object_arn(partition, rule);
        let actions = rule_needs(rule).into_iter().map(|n| n.action);
        match by_resource.iter_mut().find(|(r, _, _)| *r == resource) {
            Some((_, _, known)) => known.extend(actions),
            None => by_resource.push((resource, rule, actions.collect())),
        }
    }
    let mut sids: Vec<String> = Vec::new();
    let mut statements: Vec<Value> = Vec::new();
    for (resource, rule, mut actions) in by_resource {
        actions.sort_unstable();
        actions.dedup();
        let base = sid("Presign", rule);
        let mut id = base.clone();
        let mut n = 1;
        while sids.contains(&id) {
            n += 1;
            id = format!("{base}{n}");
        }
        sids.push(id.clone());
        statements.push(json!({
            "Sid": id,
            "Effect": "Allow",
            "Action": actions,
            "Resource": resource,
        }));
    }
    let kms = kms_needs(rules);
    if !kms_keys.is_empty() && !kms.is_empty() {
        let mut actions: Vec<&str> = kms.iter().map(|n| n.action).collect();
        actions.sort_unstable();
        statements.push(json!({
            "Sid": "PresignKms",
            "Effect": "Allow",
            "Action": actions,
            "Resource": kms_keys,
            "Condition": {"StringEquals": {"kms:ViaService": s3_via_service(region)}},
        }));
    }
    statements
}

/// A policy document of `statements`.
pub fn document(statements: Vec<Value>) -> Value {
    json!({"Version": POLICY_VERSION, "Statement": statements})
}

/// Every action `rules` need, sorted, for the start-up line.
pub fn actions(rules: &[Rule]) -> Vec<&'static str> {
    let mut all: Vec<&'static str> = rules
        .iter()
        .flat_map(rule_needs)
        .map(|n| n.action)
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needs(rule: &str) -> Vec<(&'static str, &'static str)> {
        rule_needs(&Rule::parse(rule).unwrap())
            .into_iter()
            .map(|n| (n.action, n.reason))
            .collect()
    }

    /// For each rule shape, exactly the actions it needs, each with its reason.
    #[test]
    fn actions_per_rule_shape() {
        let get = [
            ("s3:GetObject", "GET (GetObject)"),
            ("s3:GetObjectVersion", "GET with version_id"),
        ];
        let put = [
            (
                "s3:PutObject",
                "PUT (PutObject), and a multipart upload's create, parts and complete",
            ),
            (
                "s3:PutObjectTagging",
                "PUT or a multipart create with tagging",
            ),
            (
                "s3:ListMultipartUploadParts",
                "GET with upload_id (ListParts), part of the multipart flow PUT allows",
            ),
            (
                "s3:AbortMultipartUpload",
                "DELETE with upload_id (AbortMultipartUpload), part of the multipart flow PUT allows",
            ),
        ];
        let head = [
            (
                "s3:GetObject",
                "HEAD (HeadObject is authorised as GetObject)",
            ),
            ("s3:GetObjectVersion", "HEAD with version_id"),
        ];
        let delete = [
            ("s3:DeleteObject", "DELETE (DeleteObject)"),
            ("s3:DeleteObjectVersion", "DELETE with version_id"),
        ];
        let post = [("s3:PutObject", "a browser form upload (POST policy)")];
        let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
            ("GET:reports/exports/", get.to_vec()),
            ("HEAD:reports/", head.to_vec()),
            ("PUT:uploads/incoming/", put.to_vec()),
            ("POST:uploads/forms/", post.to_vec()),
            ("DELETE:scratch/tmp/", delete.to_vec()),
            (
                "DELETE,PUT:scratch/tmp/",
                [put.as_slice(), &delete].concat(),
            ),
            ("GET,PUT:both/", [get.as_slice(), &put].concat()),
            // No method: GET and PUT with what they imply, never DELETE.
            ("scratch/tmp/", [get.as_slice(), &put].concat()),
        ];
        for (rule, want) in cases {
            assert_eq!(needs(rule), want, "{rule}");
        }
    }

    /// KMS keys need GenerateDataKey for uploads and Decrypt for downloads and multipart.
    #[test]
    fn kms_per_rules() {
        let actions = |rules: &[&str]| -> Vec<&str> {
            let rules: Vec<Rule> = rules.iter().map(|r| Rule::parse(r).unwrap()).collect();
            kms_needs(&rules).into_iter().map(|n| n.action).collect()
        };
        assert_eq!(actions(&["GET:reads/"]), ["kms:Decrypt"]);
        assert_eq!(
            actions(&["PUT:uploads/"]),
            ["kms:GenerateDataKey", "kms:Decrypt"]
        );
        assert_eq!(
            actions(&["POST:uploads/"]),
            ["kms:GenerateDataKey", "kms:Decrypt"]
        );
        assert!(actions(&["DELETE:uploads/"]).is_empty());
        assert!(actions(&["HEAD:uploads/"]).is_empty());
    }

    /// Resources name the rule's objects, wildcards in keys made literal, in the region's
    /// partition; statement ids are IAM-valid.
    #[test]
    fn resources_and_sids() {
        let rule = Rule::parse("GET:my-bucket.example/odd*key?$/").unwrap();
        assert_eq!(
            object_arn("aws", &rule),
            "arn:aws:s3:::my-bucket.example/odd${*}key${?}${$}/*"
        );
        assert_eq!(
            object_arn("aws", &Rule::parse("PUT:whole").unwrap()),
            "arn:aws:s3:::whole/*"
        );
        assert_eq!(sid("Presign", &rule), "PresignMyBucketExampleOddKey");
        assert_eq!(partition_of(Some("cn-north-1")), "aws-cn");
        assert_eq!(partition_of(Some("us-gov-west-1")), "aws-us-gov");
        assert_eq!(partition_of(Some("eu-west-1")), "aws");
        assert_eq!(partition_of(None), "aws");
    }

    /// The same resource and actions twice make one statement.
    #[test]
    fn duplicate_rules_make_one_statement() {
        let rules = vec![
            Rule::parse("GET:reads/a/").unwrap(),
            Rule::parse("GET:reads/a/").unwrap(),
        ];
        assert_eq!(signer_statements("aws", "us-east-1", &rules, &[]).len(), 1);
    }

    /// Two rules on one prefix make one statement with both rules' actions; prefixes that differ
    /// only in punctuation keep their own statements, with different ids (IAM refuses a policy
    /// whose statement ids repeat).
    #[test]
    fn statements_merge_by_resource_and_ids_stay_unique() {
        let rules: Vec<Rule> = [
            "GET:reads/a/",
            "DELETE:reads/a/",
            "GET:reads/a-b/",
            "GET:reads/a.b/",
        ]
        .iter()
        .map(|r| Rule::parse(r).unwrap())
        .collect();
        let statements = signer_statements("aws", "us-east-1", &rules, &[]);
        assert_eq!(statements.len(), 3, "{statements:?}");
        assert_eq!(
            statements[0]["Action"],
            json!([
                "s3:DeleteObject",
                "s3:DeleteObjectVersion",
                "s3:GetObject",
                "s3:GetObjectVersion"
            ])
        );
        let ids: Vec<&str> = statements
            .iter()
            .map(|s| s["Sid"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["PresignReadsA", "PresignReadsAB", "PresignReadsAB2"]);
    }

    /// The KMS statement is limited to S3 of the region, with the partition's DNS suffix.
    #[test]
    fn kms_through_s3_only() {
        let rules = vec![Rule::parse("PUT:uploads/").unwrap()];
        let key = "arn:aws-cn:kms:cn-north-1:123456789012:key/k".to_string();
        let statements = signer_statements("aws-cn", "cn-north-1", &rules, &[key]);
        assert_eq!(
            statements[1]["Condition"],
            json!({"StringEquals": {"kms:ViaService": "s3.cn-north-1.amazonaws.com.cn"}})
        );
        assert_eq!(s3_via_service("eu-west-1"), "s3.eu-west-1.amazonaws.com");
        assert_eq!(
            s3_via_service("us-gov-west-1"),
            "s3.us-gov-west-1.amazonaws.com"
        );
    }
}
