// Test support: free ports, real binaries started on loopback, a local API server, and waiting with a deadline.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createNetServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Polls `check` until it returns a value other than undefined/false, or fails saying what was awaited. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 15_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await check()
      if (value !== undefined && value !== false) return value
      last = undefined
    } catch (error) {
      last = error
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`)
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/** The path of a program, or an error saying which Debian package brings it. */
export function requireBinary(program: string, debianPackage: string): string {
  const found = spawnSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' }).stdout.trim()
  if (!found) throw new Error(`${program} is not installed: apt-get install -y ${debianPackage} (or run .ci/run, which installs it)`)
  return found
}

export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `activity-${prefix}-`))
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) }
}

export interface Started {
  url: string
  port: number
  process: ChildProcess
  output(): string
  stop(): Promise<void>
}

/** Starts a real program on a loopback port and waits until `readyPath` answers 200. */
export async function startProgram(command: string, args: (port: number) => string[], readyPath: string, options: { cwd?: string; port?: number; readyTimeoutMs?: number } = {}): Promise<Started> {
  const port = options.port ?? (await freePort())
  const child = spawn(command, args(port), { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout!.on('data', (chunk) => (output += chunk))
  child.stderr!.on('data', (chunk) => (output += chunk))
  const url = `http://127.0.0.1:${port}`
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve()
      child.once('exit', () => resolve())
      child.kill('SIGTERM')
      setTimeout(() => child.kill('SIGKILL'), 5000).unref()
    })
  try {
    await waitFor(`${command} to answer on ${url}${readyPath}`, async () => {
      if (child.exitCode !== null) throw new Error(`${command} exited with ${child.exitCode}: ${output.slice(-500)}`)
      const response = await fetch(url + readyPath)
      return response.ok
    }, options.readyTimeoutMs)
  } catch (error) {
    await stop()
    throw error
  }
  return { url, port, process: child, output: () => output, stop }
}

export interface Reply {
  status?: number
  headers?: Record<string, string>
  body?: unknown
  /** Never answer (for timeout tests). */
  hang?: boolean
}

export interface RecordedRequest {
  method: string
  url: string
  headers: IncomingMessage['headers']
  body: string
}

export interface ApiServer {
  url: string
  requests: RecordedRequest[]
  close(): Promise<void>
}

/** A local HTTP server that answers through `route`, recording every request. `listen`: a fixed port or host (standalone fakes). */
export async function startApiServer(
  route: (request: RecordedRequest, server: { url: string }) => Reply | Promise<Reply>,
  listen: { port?: number; host?: string } = {},
): Promise<ApiServer> {
  const requests: RecordedRequest[] = []
  const hanging: ServerResponse[] = []
  const self = { url: '' }
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk) => (body += chunk))
    req.on('end', async () => {
      const recorded = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body }
      requests.push(recorded)
      const reply = await route(recorded, self)
      if (reply.hang) return void hanging.push(res)
      const text = typeof reply.body === 'string' ? reply.body : reply.body === undefined ? '' : JSON.stringify(reply.body)
      res.writeHead(reply.status ?? 200, { 'content-type': 'application/json; charset=utf-8', ...reply.headers })
      res.end(text)
    })
  })
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(listen.port ?? 0, listen.host ?? '127.0.0.1', resolve))
  self.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url: self.url,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy()
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
