// Ask the sessionguard sidecar for a presigned S3 URL: `presign(...)` to copy into an app, and a
// tiny CLI (`node presign.mjs BUCKET KEY EXPIRES_IN [--method M] [--min-expires-in S]`).
//
// Node 20's global fetch and AbortSignal.timeout, no dependencies. It follows the answer rule of
// README's "Calling it from your app":
// - 200: the URL, returned as the sidecar's JSON (`url`, `headers` to send, the granted `expires_in`).
// - 409 `session_too_short`: the session cannot cover `expires_in`. With `minExpiresIn` the sidecar
//   itself signs for what the session allows, down to it; a 409 then means not even that fits.
// - 503 `overloaded` / `credentials_unavailable`: retried a bounded number of times, after
//   `Retry-After` when the sidecar sends one, else after 1 s, 2 s, 4 s.
// - anything else (400, 403, 405, 408, 413, 415, 500): a SessionguardError with the sidecar's
//   `error` kind and the status, never retried (the same request gets the same answer).
//
// The sidecar's `message` is for operators: it names buckets, keys, allow-list rules and expiry
// times. It is logged here and kept on the error's `body`, never in `error.message`; show an end
// user `error.userMessage` (generic) instead.
//
// tests/deploy/test_client_snippets.py runs this file against a real `sessionguard demo`.

import { pathToFileURL } from 'node:url'
import { setTimeout as delay } from 'node:timers/promises'

// Where the sidecar listens: task-definition.json sets SESSIONGUARD_URL for the app container.
// Every container of an awsvpc task shares loopback, so the default is the sidecar's own default.
export const DEFAULT_URL = 'http://127.0.0.1:9780'

// Milliseconds before one request gives up. Above the sidecar's --check-timeout (10 s by default):
// a request that arrives before the sidecar's first credentials answer waits for it up to
// --check-timeout, then gets its URL or a 503. A client timeout equal to --check-timeout gives up
// just as that answer arrives. Raise it with --check-timeout.
export const CLIENT_TIMEOUT_MS = 15_000

// How many times a 503 is retried (so at most MAX_503_RETRIES + 1 requests).
export const MAX_503_RETRIES = 3
// Backoff when a 503 has no Retry-After: 1 s, doubling, capped. No jitter: the sidecar answers
// waiting requests from one shared credentials refresh, so callers retrying together cost nothing.
export const BACKOFF_FIRST_SECONDS = 1
export const BACKOFF_CAP_SECONDS = 4
// A Retry-After longer than this is not waited for: the 503 is thrown instead. Waiting longer holds
// the end user's request; retrying sooner ignores what the sidecar asked.
export const MAX_RETRY_AFTER_SECONDS = 10

// What an end user sees when presigning fails, whatever the cause.
export const GENERIC_USER_MESSAGE = 'The file link could not be created. Please try again in a moment.'

// Kinds this client gives to failures that are not a sidecar answer.
export const KIND_TIMEOUT = 'timeout'
export const KIND_UNREACHABLE = 'unreachable'
export const KIND_UNEXPECTED = 'unexpected_response'

// The sidecar refused (or could not be asked). `kind` is its `error` (`forbidden`,
// `session_too_short`, ...) or one of KIND_*; `status` the HTTP status (null without an answer);
// `body` the sidecar's whole JSON, `message` included: log it, do not show it.
export class SessionguardError extends Error {
  constructor (status, kind, body = {}, options = undefined) {
    // Only status and kind reach error.message: apps print errors, and `message` must not leak.
    super(`sessionguard presign failed: ${status} ${kind}`, options)
    this.name = 'SessionguardError'
    this.status = status
    this.kind = kind
    this.body = body
  }

  get userMessage () {
    return GENERIC_USER_MESSAGE
  }
}

// A Retry-After header as seconds to wait: delta-seconds (`1`) or an HTTP date; null when absent
// or unreadable (then the exponential backoff applies).
export function retryAfterSeconds (value, nowMs = Date.now()) {
  if (value == null) return null
  const text = String(value).trim()
  if (/^\d+$/.test(text)) return Number(text)
  const when = Date.parse(text)
  if (Number.isNaN(when)) return null
  return Math.max(0, (when - nowMs) / 1000)
}

// How long to wait before retry number `retry` (1-based) of a 503, or null to give up. A plain
// function of values, like its Python twin, so the rule reads (and tests) as a table.
export function backoffSeconds (retry, retryAfter, nowMs = Date.now()) {
  if (retry > MAX_503_RETRIES) return null
  const asked = retryAfterSeconds(retryAfter, nowMs)
  if (asked !== null) return asked <= MAX_RETRY_AFTER_SECONDS ? asked : null
  return Math.min(BACKOFF_FIRST_SECONDS * 2 ** (retry - 1), BACKOFF_CAP_SECONDS)
}

// POSTs JSON; returns { status, doc, retryAfter }. Node's fetch uses no proxy, so loopback stays
// loopback.
async function post (url, body, timeoutMs) {
  let response
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    })
  } catch (e) {
    if (e.name === 'TimeoutError') throw new SessionguardError(null, KIND_TIMEOUT, {}, { cause: e })
    // Not retried: a sidecar that refuses connections is not running, and ECS replaces it.
    throw new SessionguardError(null, KIND_UNREACHABLE, {}, { cause: e })
  }
  let doc
  try {
    doc = await response.json()
  } catch (e) {
    // The body can also time out mid-way: the same abort signal covers it.
    const kind = e.name === 'TimeoutError' ? KIND_TIMEOUT : KIND_UNEXPECTED
    throw new SessionguardError(response.status, kind, {}, { cause: e })
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new SessionguardError(response.status, KIND_UNEXPECTED)
  }
  return { status: response.status, doc, retryAfter: response.headers.get('retry-after') }
}

// A presigned URL for `method` on s3://bucket/key lasting `expiresIn` seconds: the sidecar's 200
// JSON (`url`, `method`, `headers` to send with it, `expires_in` granted, `expires_at`).
//
// `minExpiresIn` (seconds) is the shortest URL the caller accepts when the session cannot cover
// `expiresIn`; undefined means exactly `expiresIn` or an error. `shorten` says who shortens:
// - 'sidecar' (the way to do it): `min_expires_in` goes in the request, and the sidecar signs for
//   what the session allows, down to it, in one round trip.
// - 'client': the request asks for exactly `expiresIn`; on a 409 whose `available_seconds` reaches
//   `minExpiresIn`, one more request asks for `available_seconds`. Two round trips, for a caller
//   that wants the refusal first; the retry still carries `min_expires_in`, since the session has
//   a second or so less left by the time it arrives.
// Other request fields (`content_type`, `version_id`, ...) go in `fields` as the sidecar names
// them. `sleep(ms)` waits between 503 retries (tests record it); `log` gets the retries and the
// refusals (with the sidecar's `message`). Throws SessionguardError.
export async function presign (bucket, key, expiresIn, {
  method = 'GET',
  minExpiresIn,
  shorten = 'sidecar',
  fields = {},
  baseUrl = process.env.SESSIONGUARD_URL || DEFAULT_URL,
  timeoutMs = CLIENT_TIMEOUT_MS,
  sleep = (ms) => delay(ms),
  log = console.warn,
} = {}) {
  if (shorten !== 'sidecar' && shorten !== 'client') {
    throw new TypeError(`shorten must be 'sidecar' or 'client', not ${shorten}`)
  }
  const url = `${baseUrl.replace(/\/+$/, '')}/v1/presign`
  let body = { bucket, key, method, expires_in: expiresIn, ...fields }
  if (minExpiresIn != null && shorten === 'sidecar') body.min_expires_in = minExpiresIn

  let shortenedOnce = false
  let retry = 0
  for (;;) {
    const { status, doc, retryAfter } = await post(url, body, timeoutMs)
    const kind = doc.error ?? KIND_UNEXPECTED
    if (status === 200) return doc
    if (status === 409 && kind === 'session_too_short' && shorten === 'client' && !shortenedOnce) {
      const available = doc.available_seconds
      if (minExpiresIn != null && Number.isInteger(available) && available >= minExpiresIn) {
        log(`sessionguard: session too short for ${expiresIn}s; asking for ${available}s`)
        body = { ...body, expires_in: available, min_expires_in: minExpiresIn }
        shortenedOnce = true
        continue
      }
    }
    if (status === 503) {
      retry += 1
      const wait = backoffSeconds(retry, retryAfter)
      if (wait !== null) {
        log(`sessionguard answered 503 ${kind}; retry ${retry} in ${wait}s`)
        await sleep(wait * 1000)
        continue
      }
    }
    // Operators read `message` in the logs; the caller shows error.userMessage.
    log(`sessionguard refused: ${status} ${kind}: ${doc.message}`)
    throw new SessionguardError(status, kind, doc)
  }
}

// The CLI: prints the 200 JSON on stdout; on a refusal, status and kind on stderr, exit 1.
async function main (argv) {
  const [bucket, key, expiresIn, ...rest] = argv
  if (!bucket || !key || !/^\d+$/.test(expiresIn ?? '')) {
    console.error('usage: node presign.mjs BUCKET KEY EXPIRES_IN [--method M] [--min-expires-in S]')
    return 64
  }
  const options = {}
  for (let i = 0; i < rest.length; i += 2) {
    if (rest[i] === '--method') options.method = rest[i + 1]
    else if (rest[i] === '--min-expires-in') options.minExpiresIn = Number(rest[i + 1])
    else {
      console.error(`unknown argument ${rest[i]}`)
      return 64
    }
  }
  try {
    console.log(JSON.stringify(await presign(bucket, key, Number(expiresIn), options)))
    return 0
  } catch (e) {
    if (!(e instanceof SessionguardError)) throw e
    console.error(`${e.message} (${e.userMessage})`)
    return 1
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main(process.argv.slice(2))
}
