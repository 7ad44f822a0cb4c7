// Validates deploy/kubernetes/ offline against the Kubernetes and prometheus-operator JSON schemas,
// with validators the project did not write: npm's kubernetes-models and
// @kubernetes-models/prometheus-operator (pinned in package.json). Every YAML document of every
// file is checked by the model of its apiVersion and kind; a kind without a model is an error, so
// nothing passes unchecked. These schemas check types, enums and required fields, not unknown
// field names (Kubernetes' OpenAPI schemas do not forbid them): validate.test.mjs holds the
// fields that matter to sessionguard to their values, and tests/deploy/test_kubernetes_strict.py
// refuses unknown fields in the Deployments and ServiceAccounts (kubernetes-validate --strict).
//
//   node tests/kubernetes/validate.mjs            # every manifest; exit 1 on the first invalid one

import { readFileSync, readdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import yaml from "js-yaml";
import { ServiceAccount } from "kubernetes-models/v1";
import { Deployment } from "kubernetes-models/apps/v1";
import {
  PodMonitor,
  PrometheusRule,
} from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";

export const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const MANIFESTS = join(REPO, "deploy", "kubernetes");

const MODELS = {
  "v1/ServiceAccount": ServiceAccount,
  "apps/v1/Deployment": Deployment,
  "monitoring.coreos.com/v1/PodMonitor": PodMonitor,
  "monitoring.coreos.com/v1/PrometheusRule": PrometheusRule,
};

/** Every document of deploy/kubernetes/*.yaml, with the file it came from. */
export function documents() {
  return readdirSync(MANIFESTS)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .flatMap((file) =>
      yaml
        .loadAll(readFileSync(join(MANIFESTS, file), "utf8"))
        .filter((doc) => doc !== null)
        .map((doc) => ({ file, doc })),
    );
}

/** Throws, naming the file, kind and field, unless `doc` is valid for its apiVersion and kind. */
export function validate(doc, file = "(inline)") {
  const key = `${doc.apiVersion}/${doc.kind}`;
  const Model = MODELS[key];
  if (!Model) {
    throw new Error(`${file}: no schema for ${key}`);
  }
  try {
    new Model(doc).validate();
  } catch (e) {
    throw new Error(`${file}: ${key} ${doc.metadata?.name}: ${e.message}`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const all = documents();
  for (const { file, doc } of all) {
    validate(doc, file);
    console.log(`ok ${file} ${doc.kind}/${doc.metadata.name}`);
  }
  console.log(`${all.length} manifests valid`);
}
