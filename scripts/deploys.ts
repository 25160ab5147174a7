// `activity deploys` and `activity rollback`: the deploy ledger and rollbacks, asked of the gitops service through its
// API (the address and password of the built-in git remote), or read from the ledger file itself (--state-dir).
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { StepError, UsageError } from '../collectors/runtime/errors.ts'
import type { DeploysAnswer, RollbackRequestBody } from '../gitops/api.ts'
import { readLedgerFile, type LedgerEntry } from '../gitops/ledger.ts'
import type { DeployState } from '../gitops/state.ts'
import { runSync } from '../stacks/programs.ts'
import { readFileSync } from 'node:fs'

export const deploysUsage = `usage: activity deploys [--stack S] [--json] [--remote URL | --state-dir DIR]
       activity rollback [--to ID|COMMIT] [--stack S]... [--remote URL]
       activity rollback --unpin [--remote URL]
  deploys   every deployment attempt gitops recorded (newest last): id, start, commit, trigger, result, stacks, reason
  rollback  deploys again what a ledger entry deployed (default: the newest succeeded one of another commit than the
            branch head) and pins the platform to it: gitops deploys nothing more until a newer commit is pushed;
            --unpin ends the pin at once and deploys the branch head
  --remote URL     the gitops service, as the git remote's URL (http://platform:PASSWORD@gitops.DOMAIN/platform.git);
                   default: ACTIVITY_GITOPS_REMOTE, else the URL of the git remote named platform here
  --state-dir DIR  read the ledger file (DIR/deploys.jsonl) itself, e.g. in the gitops container or a restored backup`

const say = (line: string) => process.stdout.write(line + '\n')

interface Gitops {
  base: string
  authorization: string
  shown: string
}

/** The gitops service's address and login, from --remote, ACTIVITY_GITOPS_REMOTE or `git remote get-url platform`. */
export function gitopsFrom(remote: string | undefined, env: NodeJS.ProcessEnv): Gitops {
  let given = remote ?? env.ACTIVITY_GITOPS_REMOTE
  if (!given) {
    const git = runSync('git', ['remote', 'get-url', 'platform'])
    if (git.code !== 0) throw new UsageError('no gitops service to ask: pass --remote http://platform:PASSWORD@gitops.DOMAIN/platform.git, set ACTIVITY_GITOPS_REMOTE, or run this in a clone with a git remote named platform')
    given = git.stdout.trim()
  }
  let url: URL
  try {
    url = new URL(given)
  } catch {
    throw new UsageError(`--remote ${given} is not a URL; it is the git remote's URL, http://platform:PASSWORD@gitops.DOMAIN/platform.git`)
  }
  const authorization = 'Basic ' + Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')
  url.username = ''
  url.password = ''
  const base = url.toString().replace(/\/platform\.git\/?$/, '').replace(/\/$/, '')
  return { base, authorization, shown: base }
}

async function ask(gitops: Gitops, path: string, init: RequestInit = {}): Promise<Response> {
  let response: Response
  try {
    response = await fetch(gitops.base + path, { ...init, headers: { ...init.headers, authorization: gitops.authorization } })
  } catch (error) {
    throw new StepError('gitops', `${gitops.shown} does not answer (${(error as Error & { cause?: Error }).cause?.message ?? (error as Error).message})`, 'check the remote URL, and that the gitops service runs (npm run status)')
  }
  if (response.status === 401) throw new StepError('gitops', `${gitops.shown} refused the password`, 'use the remote URL with the password up wrote to the credentials file')
  if (!response.ok) throw new StepError('gitops', `${gitops.shown}${path} answered ${response.status}: ${(await response.text()).trim()}`, response.status === 409 ? 'activity deploys lists the entries' : 'see the gitops log')
  return response
}

function when(iso: string | undefined): string {
  return iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : ''
}

function took(entry: LedgerEntry): string {
  if (!entry.endedAt) return 'running'
  return `${Math.round((Date.parse(entry.endedAt) - Date.parse(entry.startedAt)) / 1000)} s`
}

/** The ledger as a table a person reads, newest last. */
export function deploysTable(entries: LedgerEntry[]): string[] {
  const rows = entries.map((e) => [String(e.id), when(e.startedAt), e.commit.slice(0, 7), e.trigger, e.result, took(e), e.stacks.join(',') || '-', e.rollbackOf ? `rollback to entry ${e.rollbackOf}${e.reason ? `; ${e.reason}` : ''}` : (e.reason ?? '')])
  const header = ['ID', 'STARTED', 'COMMIT', 'TRIGGER', 'RESULT', 'TOOK', 'STACKS', 'REASON']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  return [header, ...rows].map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd())
}

export async function deploysCommand(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseArgs({ args, options: { stack: { type: 'string' }, json: { type: 'boolean', default: false }, remote: { type: 'string' }, 'state-dir': { type: 'string' } } })
  let answer: DeploysAnswer
  if (values['state-dir']) {
    const dir = values['state-dir']
    // The file as it is (readLedgerFile refuses a corrupt one in one line naming it); the pin from the deploy state beside it.
    const state = (() => {
      try {
        return JSON.parse(readFileSync(join(dir, 'deployed.json'), 'utf8')) as DeployState
      } catch {
        return undefined
      }
    })()
    answer = { entries: readLedgerFile(join(dir, 'deploys.jsonl')), limit: 0, ...(state?.pinned ? { pinned: state.pinned } : {}) }
  } else {
    answer = (await (await ask(gitopsFrom(values.remote, env), '/api/deploys')).json()) as DeploysAnswer
  }
  const entries = answer.entries.filter((e) => !values.stack || e.stacks.includes(values.stack))
  if (values.json) {
    say(JSON.stringify(entries, null, 2))
    return 0
  }
  if (!entries.length) say(values.stack ? `no deployment of the ${values.stack} stack in the ledger` : 'the ledger is empty: no deployment recorded yet')
  else for (const line of deploysTable(entries)) say(line)
  if (answer.pinned) say(`pinned to ${answer.pinned.commit.slice(0, 7)} (ledger entry ${answer.pinned.entry}) since ${when(answer.pinned.since)}: gitops deploys nothing until a newer commit; activity rollback --unpin resumes`)
  return 0
}

export async function rollbackCommand(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseArgs({ args, options: { to: { type: 'string' }, stack: { type: 'string', multiple: true }, unpin: { type: 'boolean', default: false }, remote: { type: 'string' } } })
  if (values.unpin && (values.to || values.stack)) throw new UsageError('--unpin takes no --to or --stack: it ends the pin and deploys the branch head')
  const body: RollbackRequestBody = values.unpin ? { unpin: true } : { ...(values.to ? { to: values.to } : {}), ...(values.stack ? { stacks: values.stack } : {}) }
  const response = await ask(gitopsFrom(values.remote, env), '/api/rollback', { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })
  // Progress as gitops says it, line by line; its last line is ok or failed.
  let last = ''
  let partial = ''
  const decoder = new TextDecoder()
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    const lines = (partial + decoder.decode(chunk, { stream: true })).split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines.filter(Boolean)) {
      last = line
      if (line !== 'ok' && line !== 'failed') say(line)
    }
  }
  if (partial) last = partial
  if (last === 'ok') return 0
  process.stderr.write(`activity: rollback ${last === 'failed' ? 'failed' : 'ended without an answer (gitops may have restarted)'}; activity deploys shows the ledger\n`)
  return 1
}
