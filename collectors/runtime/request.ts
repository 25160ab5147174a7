// One HTTP request on Node's own http/https, the transport under the runtime's retries: redirects, a deadline, gzip/deflate/br bodies.
// Not got: importing got costs a collector run most of its start-up budget (its module graph loads http2, tls, dns
// caching, an HTTP cache and crypto before the first request), and a run sends a handful of requests.
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type RequestOptions } from 'node:http'

export interface Answer {
  status: number
  headers: IncomingHttpHeaders
  body: string
  /** The URL that answered, after redirects. */
  url: string
}

export interface SendOptions {
  method?: string
  headers?: Record<string, string>
  body?: string
  /** The whole attempt (redirects and the body included) fails with ETIMEDOUT after this long. */
  timeoutMs: number
  /** Called before each request goes out, redirects included: what an API counts. */
  onRequest?: () => void
}

/** The connection failed or the answer did not come in time; `code` is Node's (ECONNREFUSED, ETIMEDOUT, ...). */
export class TransportError extends Error {
  constructor(
    readonly code: string,
    readonly url: string,
    message = code,
  ) {
    super(message)
    this.name = 'TransportError'
  }
}

/** An answer outside 2xx, kept whole so callers can read its status, headers and body. */
export class StatusError extends Error {
  constructor(readonly answer: Answer) {
    super(`${answer.url} answered ${answer.status}`)
    this.name = 'StatusError'
  }
}

const maxRedirects = 10
const redirectStatuses = new Set([301, 302, 303, 307, 308])

// https (tls, crypto) and zlib load only when a URL or an answer needs them: a run against a plain-HTTP API or
// Pushgateway never pays for them.
let httpsRequest: typeof httpRequest | undefined
async function requestFor(url: URL): Promise<typeof httpRequest> {
  if (url.protocol === 'http:') return httpRequest
  if (url.protocol !== 'https:') throw new TransportError('ERR_INVALID_PROTOCOL', url.href, `unsupported protocol ${url.protocol}`)
  httpsRequest ??= (await import('node:https')).request
  return httpsRequest
}

async function decoded(raw: Buffer, encoding: string | undefined): Promise<Buffer> {
  const coding = encoding?.trim().toLowerCase()
  if (!coding || coding === 'identity' || raw.length === 0) return raw
  const zlib = await import('node:zlib')
  const { promisify } = await import('node:util')
  if (coding === 'gzip' || coding === 'x-gzip') return promisify(zlib.gunzip)(raw, { finishFlush: zlib.constants.Z_SYNC_FLUSH })
  if (coding === 'deflate') return promisify(zlib.inflate)(raw)
  if (coding === 'br') return promisify(zlib.brotliDecompress)(raw)
  return raw
}

function once(url: URL, method: string, headers: Record<string, string>, body: string | undefined, signal: AbortSignal): Promise<{ response: IncomingMessage; raw: Buffer }> {
  return requestFor(url).then(
    (request) =>
      new Promise((resolve, reject) => {
        const options: RequestOptions = { method, headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) }, signal }
        const req = request(url, options, (response) => {
          const chunks: Buffer[] = []
          response.on('data', (chunk: Buffer) => chunks.push(chunk))
          response.on('end', () => resolve({ response, raw: Buffer.concat(chunks) }))
          response.on('error', (error) => reject(transportError(error, url, signal)))
          response.on('aborted', () => reject(transportError(Object.assign(new Error('the connection closed before the whole answer arrived'), { code: 'ECONNRESET' }), url, signal)))
        })
        req.on('error', (error) => reject(transportError(error, url, signal)))
        req.end(body)
      }),
  )
}

function transportError(error: Error, url: URL, signal: AbortSignal): TransportError {
  if (signal.aborted) return new TransportError('ETIMEDOUT', url.href, 'no answer in time')
  const code = (error as NodeJS.ErrnoException).code ?? 'ERR_NETWORK'
  return new TransportError(code, url.href, error.message)
}

/** Sends one request and reads the whole answer, following redirects; a status outside 2xx rejects with StatusError. */
export async function send(target: string | URL, options: SendOptions): Promise<Answer> {
  let url = new URL(target)
  let method = (options.method ?? 'GET').toUpperCase()
  let body = options.body
  const headers: Record<string, string> = { 'accept-encoding': 'gzip, deflate, br' }
  for (const [name, value] of Object.entries(options.headers ?? {})) headers[name.toLowerCase()] = value
  const deadline = new AbortController()
  const timer = setTimeout(() => deadline.abort(), options.timeoutMs)
  try {
    for (let hop = 0; ; hop++) {
      options.onRequest?.()
      const { response, raw } = await once(url, method, headers, body, deadline.signal)
      const status = response.statusCode ?? 0
      const location = response.headers.location
      if (redirectStatuses.has(status) && location && hop < maxRedirects) {
        const next = new URL(location, url)
        // Credentials are for the host they were given for.
        if (next.origin !== url.origin) {
          delete headers.authorization
          delete headers.cookie
        }
        if (status === 303 && method !== 'GET' && method !== 'HEAD') {
          method = 'GET'
          body = undefined
        }
        url = next
        continue
      }
      const answer: Answer = {
        status,
        headers: response.headers,
        body: (await decoded(raw, response.headers['content-encoding'] as string | undefined)).toString('utf8'),
        url: url.href,
      }
      if (status < 200 || status > 299) throw new StatusError(answer)
      return answer
    }
  } catch (error) {
    if (error instanceof StatusError || error instanceof TransportError) throw error
    if (deadline.signal.aborted) throw new TransportError('ETIMEDOUT', url.href, 'no answer in time')
    throw new TransportError((error as NodeJS.ErrnoException).code ?? 'ERR_NETWORK', url.href, (error as Error).message)
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Runs `attempt` until it succeeds or `delayFor` says to stop (undefined): `delayFor` gets the failure and how many
 * attempts failed so far, and answers how long to wait before the next one.
 */
export async function withRetries<T>(attempt: () => Promise<T>, delayFor: (failure: unknown, failedAttempts: number) => number | undefined): Promise<T> {
  for (let failed = 1; ; failed++) {
    try {
      return await attempt()
    } catch (failure) {
      const wait = delayFor(failure, failed)
      if (wait === undefined) throw failure
      await new Promise((resolve) => setTimeout(resolve, wait))
    }
  }
}
