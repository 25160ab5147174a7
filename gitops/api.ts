// The gitops service's API for the `activity deploys` and `activity rollback` commands: the ledger as JSON, and a
// rollback (or an unpin) whose progress is streamed line by line, its last line `ok` or `failed`. Behind the same
// Basic auth as the built-in git remote (user platform, the gitops_push_password secret).
import type { IncomingMessage, ServerResponse } from 'node:http'
import { ActivityError } from '../collectors/runtime/errors.ts'
import type { Deployer, DeployResult } from './deployer.ts'
import { stacks as stackNames, type Stack } from './inputs.ts'
import type { Ledger, LedgerEntry } from './ledger.ts'
import type { Pin, StateFile } from './state.ts'

export interface ApiContext {
  ledger: Ledger
  deployer: Deployer
  state: StateFile
  headOf(): Promise<string | undefined>
  /** Takes in what `npm run up` left for the ledger. */
  takeInbox(): Promise<unknown>
}

/** What GET /api/deploys answers. */
export interface DeploysAnswer {
  entries: LedgerEntry[]
  pinned?: Pin
  limit: number
}

export interface RollbackRequestBody {
  /** A ledger id (digits) or a commit (at least 4 hex digits); absent: the newest succeeded entry of another commit than the head. */
  to?: string
  stacks?: string[]
  unpin?: boolean
}

/** Why a rollback cannot start: said to the person who asked, with what to do. */
export class RollbackRefused extends ActivityError {
  override readonly kind = 'usage'

  constructor(problem: string) {
    super('', problem)
  }
}

/** The entry a rollback deploys again, from what the person gave. */
export function rollbackTarget(entries: LedgerEntry[], to: string | undefined, head: string | undefined, stacks: string[] = []): LedgerEntry {
  const usable = (e: LedgerEntry) => e.result === 'succeeded' && (e.stacks.length > 0 || e.trigger === 'up') && stacks.every((s) => e.stacks.includes(s) || e.trigger === 'up' || e.stacks.length === 0)
  const newest = [...entries].reverse()
  if (to === undefined) {
    const found = newest.find((e) => usable(e) && e.commit !== head)
    if (!found) throw new RollbackRefused('the ledger has no succeeded deployment of another commit than the branch head; name one with --to (activity deploys lists them)')
    return found
  }
  if (/^\d{1,6}$/.test(to)) {
    const entry = entries.find((e) => e.id === Number(to))
    if (!entry) throw new RollbackRefused(`ledger entry ${to} does not exist (activity deploys lists them)`)
    if (entry.result !== 'succeeded') throw new RollbackRefused(`ledger entry ${to} did not succeed (${entry.result}); roll back to one that did`)
    return entry
  }
  if (!/^[0-9a-f]{4,40}$/i.test(to)) throw new RollbackRefused(`--to ${to} is neither a ledger id nor a commit`)
  const found = newest.find((e) => e.commit.startsWith(to.toLowerCase()) && e.result === 'succeeded')
  if (!found) throw new RollbackRefused(`no succeeded deployment of ${to} in the ledger (activity deploys lists them)`)
  return found
}

async function jsonBody(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > 64 * 1024) return undefined
    chunks.push(chunk)
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}')
  } catch {
    return undefined
  }
}

export async function listDeploys(context: ApiContext, response: ServerResponse, url: URL): Promise<void> {
  await context.takeInbox()
  const stack = url.searchParams.get('stack')
  const entries = context.ledger.list().filter((e) => !stack || e.stacks.includes(stack))
  const answer: DeploysAnswer = { entries, limit: context.ledger.limit, ...(context.state.read().pinned ? { pinned: context.state.read().pinned } : {}) }
  response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer))
}

export async function rollback(context: ApiContext, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const body = (await jsonBody(request)) as RollbackRequestBody | undefined
  if (!body || typeof body !== 'object') return void response.writeHead(400, { 'content-type': 'text/plain' }).end('the body must be JSON: {"to": "ID or COMMIT", "stacks": [...], "unpin": false}\n')
  const unknown = (body.stacks ?? []).filter((s) => !(stackNames as readonly string[]).includes(s))
  if (unknown.length) return void response.writeHead(400, { 'content-type': 'text/plain' }).end(`no stack named ${unknown.join(', ')}; the stacks are ${stackNames.join(', ')}\n`)
  await context.takeInbox()
  const head = await context.headOf()
  let entry: LedgerEntry | undefined
  if (!body.unpin) {
    try {
      entry = rollbackTarget(context.ledger.list(), body.to, head, body.stacks)
    } catch (error) {
      if (!(error instanceof RollbackRefused)) throw error
      return void response.writeHead(409, { 'content-type': 'text/plain' }).end(error.message + '\n')
    }
  }
  response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' })
  const write = (line: string) => response.write(line + '\n')
  let result: DeployResult | undefined
  if (body.unpin) result = await context.deployer.unpin(head, write)
  else {
    write(`rolling back to ledger entry ${entry!.id}: ${entry!.commit.slice(0, 7)}, deployed ${entry!.endedAt ?? entry!.startedAt}${body.stacks?.length ? `; stacks ${body.stacks.join(', ')}` : ''}`)
    result = await context.deployer.request(entry!.commit, write, { trigger: 'rollback', rollback: { entry: entry!, stacks: body.stacks as Stack[] | undefined, head } })
  }
  const ok = !result || result.outcome === 'deployed' || result.outcome === 'unchanged'
  response.end(ok ? 'ok\n' : 'failed\n')
}
