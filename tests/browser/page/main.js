// Uppy 6 with @uppy/aws-s3, signing every S3 request through the app's backend, which forwards
// Uppy's own request to sessionguard's /v1/presign/uppy: the three-line signRequest of README.
import Uppy from '@uppy/core'
import AwsS3 from '@uppy/aws-s3'

const MiB = 1024 * 1024

/** Deterministic bytes the test regenerates to compare with what S3 stored. */
function pattern (size) {
  const bytes = new Uint8Array(size)
  for (let i = 0; i < size; i++) bytes[i] = (i * 7 + (i >> 12)) % 251
  return bytes
}

/**
 * Uploads one file of `size` bytes named `name`; multipart above 5 MiB in 5 MiB parts. With
 * `cancelAfterParts`, cancels once that many parts are up. Resolves with what Uppy reports.
 */
window.runUpload = async ({ name, size, cancelAfterParts }) => {
  const signed = []
  const uppy = new Uppy({ autoProceed: false })
  uppy.use(AwsS3, {
    shouldUseMultipart: (file) => file.size > 5 * MiB,
    getChunkSize: () => 5 * MiB,
    limit: 1,
    generateObjectKey: (file) => `uploads/${file.name}`,
    async signRequest (request) {
      const response = await fetch('/v1/presign/uppy?bucket=uploads', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(request),
      })
      const body = await response.json()
      if (!response.ok) throw new Error(`${response.status} ${body.error}: ${body.message}`)
      signed.push({ request, expires_in: body.expires_in })
      return body
    },
  })
  let parts = 0
  let cancelled = false
  const done = new Promise((resolve) => {
    uppy.on('s3-multipart:part-uploaded', () => {
      parts += 1
      if (cancelAfterParts && parts >= cancelAfterParts && !cancelled) {
        cancelled = true
        uppy.cancelAll()
        // Give Uppy's abort (a signed DELETE of the upload) time to go out before answering.
        setTimeout(() => resolve({ cancelled: true }), 1500)
      }
    })
    uppy.on('complete', (result) => cancelled || resolve({
      successful: result.successful.map((f) => f.name),
      failed: result.failed.map((f) => ({ name: f.name, error: String(f.error) })),
    }))
    uppy.on('upload-error', (file, error) => cancelled || resolve({ failed: [{ name: file.name, error: String(error) }] }))
  })
  uppy.addFile({ name, type: 'application/octet-stream', data: new Blob([pattern(size)]) })
  uppy.upload()
  const outcome = await done
  return { ...outcome, parts, signed }
}

document.getElementById('status').textContent = 'ready'
