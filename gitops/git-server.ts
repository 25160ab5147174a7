// The git remote gitops serves itself (smart HTTP through `git http-backend`): `git push platform main` validates, then deploys, and the push shows both.
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { join } from 'node:path'
import { simpleGit } from 'simple-git'
import { start } from '../stacks/programs.ts'

export const repoName = 'platform.git'

/** A bare repository ready to receive pushes, with hooks that call back into this process. */
export async function prepareRepository(root: string, hookUrl: string, branch: string): Promise<string> {
  const repo = join(root, repoName)
  if (!existsSync(join(repo, 'HEAD'))) {
    mkdirSync(repo, { recursive: true })
    await simpleGit(repo).raw(['init', '--bare', '-q', '-b', branch])
  }
  const git = simpleGit(repo)
  await git.raw(['config', 'http.receivepack', 'true'])
  await git.raw(['config', 'receive.denyDeletes', 'true'])
  // Push options reach the pre-receive hook (GIT_PUSH_OPTION_*), which answers them: without this git refuses any
  // `git push -o` before the hook runs, saying only that the remote does not support push options.
  await git.raw(['config', 'receive.advertisePushOptions', 'true'])
  for (const hook of ['pre-receive', 'post-receive']) {
    const file = join(repo, 'hooks', hook)
    writeFileSync(file, hookScript(hookUrl, hook))
    chmodSync(file, 0o755)
  }
  return repo
}

/**
 * A hook that hands its input (old new ref lines) and git's quarantine paths to the gitops process
 * and prints what it answers, line by line: git shows each as `remote: ...` to the pusher.
 * The last line is `ok` or `refused`; refused makes pre-receive reject the push.
 */
function hookScript(url: string, hook: string): string {
  return `#!/usr/bin/env node
// Written by gitops at start-up; calls back into it. Do not edit.
let input = ''
process.stdin.on('data', (c) => (input += c))
process.stdin.on('end', async () => {
  const env = {}
  for (const k of ['GIT_OBJECT_DIRECTORY', 'GIT_ALTERNATE_OBJECT_DIRECTORIES', 'GIT_QUARANTINE_PATH']) if (process.env[k]) env[k] = process.env[k]
  for (const k of Object.keys(process.env)) if (k.startsWith('GIT_PUSH_OPTION_')) env[k] = process.env[k]
  try {
    const res = await fetch(${JSON.stringify(url)} + '/hooks/${hook}', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-activity-hook-token': process.env.ACTIVITY_HOOK_TOKEN || '' },
      body: JSON.stringify({ input, env }),
    })
    let last = ''
    const decoder = new TextDecoder()
    let buffered = ''
    for await (const chunk of res.body) {
      buffered += decoder.decode(chunk, { stream: true })
      const lines = buffered.split('\\n')
      buffered = lines.pop()
      for (const line of lines) { if (line === 'ok' || line === 'refused') last = line; else process.stdout.write(line + '\\n') }
    }
    if (buffered === 'ok' || buffered === 'refused') last = buffered
    process.exit(last === 'ok' ? 0 : 1)
  } catch (error) {
    process.stdout.write('gitops did not answer: ' + error.message + '\\n')
    process.exit(1)
  }
})
`
}

export interface Push {
  oldCommit: string
  newCommit: string
  ref: string
}

/** The options of `git push -o OPTION`, in order, from the environment git gives the pre-receive hook. */
export function pushOptions(env: Record<string, string>): string[] {
  const count = Number(env.GIT_PUSH_OPTION_COUNT ?? 0)
  return Array.from({ length: Number.isInteger(count) && count > 0 ? count : 0 }, (_, i) => env[`GIT_PUSH_OPTION_${i}`] ?? '')
}

export function parseHookInput(input: string): Push[] {
  return input
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((parts) => parts.length === 3)
    .map(([oldCommit, newCommit, ref]) => ({ oldCommit: oldCommit!, newCommit: newCommit!, ref: ref! }))
}

export function sameCredential(given: string, expected: string): boolean {
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return timingSafeEqual(a.length === b.length ? a : b, b) && a.length === b.length
}

/** Basic auth: any user name, the push password. */
export function authorised(request: IncomingMessage, password: string): boolean {
  const header = request.headers.authorization ?? ''
  const match = /^Basic\s+(\S+)$/i.exec(header)
  if (!match) return false
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  return colon >= 0 && sameCredential(decoded.slice(colon + 1), password)
}

export const hookToken = randomBytes(24).toString('hex')

/** What `git http-backend` gets as its whole environment: the CGI variables of the request, and the hooks' token. */
function cgiEnvironment(request: IncomingMessage, root: string): NodeJS.ProcessEnv {
  const url = new URL(request.url ?? '/', 'http://gitops.invalid')
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    GIT_PROJECT_ROOT: root,
    GIT_HTTP_EXPORT_ALL: '1',
    GIT_HTTP_MAX_REQUEST_BUFFER: '100M',
    PATH_INFO: decodeURIComponent(url.pathname),
    QUERY_STRING: url.search.slice(1),
    REQUEST_METHOD: request.method ?? 'GET',
    CONTENT_TYPE: request.headers['content-type'] ?? '',
    HTTP_CONTENT_ENCODING: request.headers['content-encoding'] ?? '',
    HTTP_GIT_PROTOCOL: (request.headers['git-protocol'] as string | undefined) ?? '',
    REMOTE_USER: 'platform',
    REMOTE_ADDR: request.socket.remoteAddress ?? '',
    ACTIVITY_HOOK_TOKEN: hookToken,
  }
}

/**
 * A CGI program's output as the HTTP response: its header lines (Status: among them) until the blank line, then the
 * body as it comes. `started()` says whether the headers were complete (and sent).
 */
function cgiResponse(response: ServerResponse): { take(chunk: Buffer): void; started(): boolean } {
  let head = Buffer.alloc(0)
  let headersDone = false
  return {
    take(chunk) {
      if (headersDone) return void response.write(chunk)
      head = Buffer.concat([head, chunk])
      const end = head.indexOf('\r\n\r\n')
      if (end < 0) return
      headersDone = true
      let status = 200
      for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
        const colon = line.indexOf(':')
        const name = line.slice(0, colon).trim()
        const value = line.slice(colon + 1).trim()
        if (name.toLowerCase() === 'status') status = Number(value.split(' ')[0])
        else response.setHeader(name, value)
      }
      response.writeHead(status)
      response.write(head.subarray(end + 4))
    },
    started: () => headersDone,
  }
}

/** Serves /platform.git/... through `git http-backend` (CGI); resolves once the response is ended. */
export async function serveGit(request: IncomingMessage, response: ServerResponse, root: string): Promise<void> {
  const backend = start('git', ['http-backend'], { env: cgiEnvironment(request, root) })
  request.pipe(backend.stdin)
  const cgi = cgiResponse(response)
  backend.stdout.on('data', (chunk: Buffer) => cgi.take(chunk))
  const { exitCode, stderr } = await backend
  if (!cgi.started()) {
    response.writeHead(500, { 'content-type': 'text/plain' })
    response.end(`git http-backend failed (${exitCode}): ${stderr}`)
  } else response.end()
}
