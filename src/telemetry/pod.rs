//! The Kubernetes pod this sidecar runs in, from the Downward API.
//!
//! Kubernetes has no task metadata endpoint; a container learns its pod's name, namespace and node
//! only from what its spec passes in (`env[].valueFrom.fieldRef`: `metadata.name`,
//! `metadata.namespace`, `spec.nodeName`). deploy/kubernetes/ sets [`ENV_POD_NAME`],
//! [`ENV_POD_NAMESPACE`] and [`ENV_NODE_NAME`] that way. Each one given goes on every log line and
//! into `sessionguard_pod_info` under the OpenTelemetry names (`k8s_pod_name`, ...), which never
//! collide with the `namespace` and `pod` labels Prometheus adds to every scraped series; one not
//! given (or empty) is absent, never an empty string.

/// `metadata.name` of the pod.
pub const ENV_POD_NAME: &str = "SESSIONGUARD_POD_NAME";
/// `metadata.namespace` of the pod.
pub const ENV_POD_NAMESPACE: &str = "SESSIONGUARD_POD_NAMESPACE";
/// `spec.nodeName`: the node the pod was scheduled on.
pub const ENV_NODE_NAME: &str = "SESSIONGUARD_NODE_NAME";

/// The labels, in the order they are written: (log field and metric label, variable).
const LABELS: [(&str, &str); 3] = [
    ("k8s_namespace_name", ENV_POD_NAMESPACE),
    ("k8s_pod_name", ENV_POD_NAME),
    ("k8s_node_name", ENV_NODE_NAME),
];

/// What the pod's spec told the container about the pod: only the labels given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodLabels(Vec<(&'static str, String)>);

impl PodLabels {
    /// The labels from the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The labels from `lookup` (a variable's value by name): a value unset, empty or only
    /// whitespace is not given.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        PodLabels(
            LABELS
                .iter()
                .filter_map(|(label, var)| {
                    let value = lookup(var)?.trim().to_string();
                    (!value.is_empty()).then_some((*label, value))
                })
                .collect(),
        )
    }

    /// Whether nothing was given (not on Kubernetes, or the spec passes nothing in).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `(label, value)` for each label given.
    pub fn pairs(&self) -> &[(&'static str, String)] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A label is there when its variable has a value, and absent (not empty) otherwise.
    #[test]
    fn only_given_labels() {
        type Pairs = &'static [(&'static str, &'static str)];
        let cases: &[(Pairs, Pairs)] = &[
            (&[], &[]),
            (
                &[
                    (ENV_POD_NAME, "app-7d9f-abcde"),
                    (ENV_POD_NAMESPACE, "shop"),
                    (ENV_NODE_NAME, "ip-10-0-1-23.ec2.internal"),
                ],
                &[
                    ("k8s_namespace_name", "shop"),
                    ("k8s_pod_name", "app-7d9f-abcde"),
                    ("k8s_node_name", "ip-10-0-1-23.ec2.internal"),
                ],
            ),
            (
                &[
                    (ENV_POD_NAME, "app-1"),
                    (ENV_NODE_NAME, " "),
                    (ENV_POD_NAMESPACE, ""),
                ],
                &[("k8s_pod_name", "app-1")],
            ),
        ];
        for (env, want) in cases {
            let got = PodLabels::from_lookup(|name| {
                env.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            });
            let got: Vec<(&str, &str)> =
                got.pairs().iter().map(|(k, v)| (*k, v.as_str())).collect();
            assert_eq!(&got, want, "{env:?}");
        }
    }
}
