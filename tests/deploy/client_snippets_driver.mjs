// Runs examples/clients/node/presign.mjs for test_client_snippets.py and prints one JSON line, so
// the Python tests check the Node snippet exactly as they check the Python one.
//
// argv[2] is a JSON spec:
//   {"call": {"bucket", "key", "expiresIn", "options": {...}}, "realSleep": true}
//     -> {"ok": true, "result": <the 200 JSON>, "sleeps": [seconds, ...]}
//      | {"ok": false, "error": {"status", "kind", "body", "message", "userMessage"}, "sleeps": [...]}
//   {"backoff": [[retry, retryAfter, nowMs], ...]} -> {"backoff": [seconds or null, ...]}
// Every answer also carries "constants" (CLIENT_TIMEOUT_MS, ...). The snippet reads
// SESSIONGUARD_URL from the environment the test sets; its log lines go to stderr.

import * as client from '../../examples/clients/node/presign.mjs'

const spec = JSON.parse(process.argv[2])
const constants = {
  CLIENT_TIMEOUT_MS: client.CLIENT_TIMEOUT_MS,
  MAX_503_RETRIES: client.MAX_503_RETRIES,
  GENERIC_USER_MESSAGE: client.GENERIC_USER_MESSAGE,
}
const out = { constants }

if (spec.backoff) {
  out.backoff = spec.backoff.map(([retry, retryAfter, nowMs]) =>
    client.backoffSeconds(retry, retryAfter, nowMs))
}

if (spec.call) {
  // Each wait the snippet asks for, in seconds; waited for real unless the test says not to.
  const sleeps = []
  const sleep = (ms) => {
    sleeps.push(ms / 1000)
    return spec.realSleep === false ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms))
  }
  const { bucket, key, expiresIn, options = {} } = spec.call
  try {
    out.result = await client.presign(bucket, key, expiresIn, { ...options, sleep, log: console.error })
    out.ok = true
  } catch (e) {
    if (!(e instanceof client.SessionguardError)) throw e
    out.ok = false
    out.error = {
      status: e.status, kind: e.kind, body: e.body, message: e.message, userMessage: e.userMessage,
    }
  }
  out.sleeps = sleeps
}

console.log(JSON.stringify(out))
