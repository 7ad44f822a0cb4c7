// deploy/kubernetes/ against the schemas (validate.mjs), a broken field failing them, the
// PrometheusRule held equal to deploy/prometheus/alerts.yml, and the sidecar's contract: native
// sidecar, probes, the image's security context, the Downward API variables sessionguard reads,
// and a PodMonitor that finds the pods. Run by scripts/test-kubernetes.sh (`node --test`).

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import yaml from "js-yaml";
import { REPO, documents, validate } from "./validate.mjs";

const all = documents();
const find = (kind, name) => {
  const found = all.find((d) => d.doc.kind === kind && d.doc.metadata.name === name);
  assert.ok(found, `no ${kind}/${name} in deploy/kubernetes`);
  return structuredClone(found.doc);
};
const sidecarOf = (deployment) =>
  deployment.spec.template.spec.initContainers.find((c) => c.name === "sessionguard");

test("every manifest is valid against the Kubernetes and prometheus-operator schemas", () => {
  assert.ok(all.length >= 6, `only ${all.length} documents`);
  for (const { file, doc } of all) {
    validate(doc, file);
  }
});

test("a broken field fails the validation, naming it", () => {
  const cases = [
    [
      // A user id written as a string, as a hand-edited manifest easily has it.
      (d) => (sidecarOf(d).securityContext.runAsUser = "65532"),
      /initContainers\/0\/securityContext\/runAsUser must be integer/,
    ],
    [
      (d) => (sidecarOf(d).ports[0].containerPort = "9781"),
      /initContainers\/0\/ports\/0\/containerPort must be integer/,
    ],
    [
      (d) => (sidecarOf(d).livenessProbe.httpGet.port = { name: "metrics" }),
      /livenessProbe\/httpGet\/port must be (string|integer)/,
    ],
    [
      (d) => (sidecarOf(d).startupProbe.httpGet.path = 404),
      /startupProbe\/httpGet\/path must be string/,
    ],
  ];
  for (const [breakIt, message] of cases) {
    const deployment = find("Deployment", "shop-api");
    validate(deployment);
    breakIt(deployment);
    assert.throws(() => validate(deployment, "deployment.yaml"), message);
  }
  const monitor = find("PodMonitor", "sessionguard");
  monitor.spec.podMetricsEndpoints[0].relabelings[0].action = "rewrite";
  assert.throws(() => validate(monitor), /action must be equal to one of the allowed values/);
  const rule = find("PrometheusRule", "sessionguard");
  rule.spec.groups[0].rules[0].expr = ["not", "a", "string"];
  assert.throws(() => validate(rule), /expr/);
});

test("the PrometheusRule holds exactly the alerts of deploy/prometheus/alerts.yml", () => {
  const alerts = yaml.load(
    readFileSync(join(REPO, "deploy", "prometheus", "alerts.yml"), "utf8"),
  );
  assert.deepStrictEqual(find("PrometheusRule", "sessionguard").spec, alerts);
});

test("sessionguard runs as a native sidecar with the image's security context", () => {
  for (const name of ["shop-api", "shop-api-irsa"]) {
    const deployment = find("Deployment", name);
    const pod = deployment.spec.template.spec;
    const sidecar = sidecarOf(deployment);
    assert.equal(sidecar.restartPolicy, "Always", name);
    assert.deepEqual(sidecar.securityContext, {
      runAsUser: 65532,
      runAsGroup: 65532,
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
    });
    assert.equal(pod.securityContext.fsGroup, 65532, "the token files are readable by 65532");
    assert.equal(sidecar.startupProbe.httpGet.path, "/readyz");
    assert.equal(sidecar.livenessProbe.httpGet.path, "/healthz");
    const env = Object.fromEntries(sidecar.env.map((e) => [e.name, e]));
    assert.equal(env.SESSIONGUARD_METRICS_LISTEN.value, "0.0.0.0:9781");
    // The variables src/telemetry/pod.rs reads, from the fields they are documented to carry.
    for (const [variable, field] of [
      ["SESSIONGUARD_POD_NAME", "metadata.name"],
      ["SESSIONGUARD_POD_NAMESPACE", "metadata.namespace"],
      ["SESSIONGUARD_NODE_NAME", "spec.nodeName"],
    ]) {
      assert.equal(env[variable]?.valueFrom?.fieldRef?.fieldPath, field, variable);
      const source = readFileSync(join(REPO, "src", "telemetry", "pod.rs"), "utf8");
      assert.ok(source.includes(`"${variable}"`), `${variable} is not what pod.rs reads`);
    }
    const app = pod.containers.find((c) => c.name === "app");
    assert.equal(app.env.find((e) => e.name === "SESSIONGUARD_URL").value, "http://127.0.0.1:9780");
  }
});

test("the IRSA variant signs with web identity through an annotated service account", () => {
  const deployment = find("Deployment", "shop-api-irsa");
  const account = find("ServiceAccount", deployment.spec.template.spec.serviceAccountName);
  assert.match(account.metadata.annotations["eks.amazonaws.com/role-arn"], /^arn:aws:iam::\d{12}:role\//);
  const env = Object.fromEntries(sidecarOf(deployment).env.map((e) => [e.name, e.value]));
  assert.equal(env.SESSIONGUARD_SIGNING_SOURCE, "web-identity");
  const podIdentity = find("Deployment", "shop-api");
  const plain = find("ServiceAccount", podIdentity.spec.template.spec.serviceAccountName);
  assert.equal(plain.metadata.annotations, undefined, "Pod Identity needs no annotation");
});

test("the PodMonitor finds the pods' metrics port and names the job the alerts select", () => {
  const monitor = find("PodMonitor", "sessionguard");
  const endpoint = monitor.spec.podMetricsEndpoints[0];
  assert.equal(endpoint.path, "/metrics");
  assert.deepEqual(endpoint.relabelings, [
    { action: "replace", targetLabel: "job", replacement: "sessionguard" },
  ]);
  for (const name of ["shop-api", "shop-api-irsa"]) {
    const deployment = find("Deployment", name);
    const labels = deployment.spec.template.metadata.labels;
    for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels)) {
      assert.equal(labels[k], v, `${name} is not selected by the PodMonitor`);
    }
    assert.ok(
      sidecarOf(deployment).ports.some((p) => p.name === endpoint.port && p.containerPort === 9781),
      `${name} has no port ${endpoint.port}`,
    );
  }
});
