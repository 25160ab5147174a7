// The deploy ledger: every deployment attempt, as one JSON line per change on the gitops volume (deploys.jsonl). An
// attempt is written when it starts (result `running`) and again when it ends; the last line of an id is the entry.
// It keeps the newest `limit` entries, survives restarts, and a file it cannot read is set aside, never lost.
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { ActivityError } from '../collectors/runtime/errors.ts'

/**
 * What started an attempt: the built-in remote (push), a forge's webhook, polling the remote, `activity rollback`,
 * `npm run up`, gitops trying a failed commit again (retry), gitops resuming after a restart (restart), or
 * `activity rollback --unpin` (unpin).
 */
export const triggers = ['push', 'webhook', 'poll', 'rollback', 'up', 'retry', 'restart', 'unpin'] as const
export type Trigger = (typeof triggers)[number]

export const results = ['running', 'succeeded', 'failed', 'rolled back by Swarm', 'refused by validation'] as const
export type LedgerResult = (typeof results)[number]

/** A service as the swarm runs it once the attempt ended: its image and a fingerprint of its whole spec. */
export interface ServiceRecord {
  name: string
  image: string
  fingerprint: string
}

export interface LedgerEntry {
  /** 1, 2, 3, ... in the order attempts started; `activity rollback --to ID` names one. */
  id: number
  commit: string
  trigger: Trigger
  /** The stacks this attempt deployed (or tried to). */
  stacks: string[]
  services: ServiceRecord[]
  startedAt: string
  endedAt?: string
  result: LedgerResult
  reason?: string
  /** A rollback: the entry whose deployment it repeated. */
  rollbackOf?: number
}

export const defaultLedgerLimit = 1000

export class LedgerFileError extends ActivityError {
  constructor(
    readonly file: string,
    readonly line: number,
    detail: string,
  ) {
    super(`${file}:${line}`, `not a deploy ledger entry (${detail})`, 'gitops set this file aside and keeps a new ledger beside it')
  }
}

function isEntry(value: unknown): value is LedgerEntry {
  const e = value as LedgerEntry
  return (
    typeof e === 'object' && e !== null && Number.isInteger(e.id) && e.id > 0 && typeof e.commit === 'string' && (triggers as readonly string[]).includes(e.trigger) &&
    Array.isArray(e.stacks) && Array.isArray(e.services) && typeof e.startedAt === 'string' && (results as readonly string[]).includes(e.result)
  )
}

/** The entries of a ledger file, oldest first (the last line of each id wins); throws LedgerFileError on the first bad line. */
export function readLedgerFile(file: string): LedgerEntry[] {
  if (!existsSync(file)) return []
  const entries = new Map<number, LedgerEntry>()
  const lines = readFileSync(file, 'utf8').split('\n')
  for (const [index, line] of lines.entries()) {
    if (!line.trim()) continue
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch (error) {
      throw new LedgerFileError(file, index + 1, (error as Error).message)
    }
    if (!isEntry(value)) throw new LedgerFileError(file, index + 1, 'it lacks an id, commit, trigger, stacks, services, startedAt or a known result')
    entries.set(value.id, value)
  }
  return [...entries.values()].sort((a, b) => a.id - b.id)
}

/** The highest id of the readable lines of a file that is not a ledger as a whole (new ids follow it, never repeat it). */
function highestId(file: string): number {
  let highest = 0
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    try {
      const id = (JSON.parse(line) as { id?: unknown }).id
      if (Number.isInteger(id)) highest = Math.max(highest, id as number)
    } catch {
      // an unreadable line names no id
    }
  }
  return highest
}

export class Ledger {
  private entries: LedgerEntry[] = []
  private nextId = 1
  /** Lines in the file: past twice the limit (entries are written twice), it is rewritten with the newest entries. */
  private lines = 0
  /** The file a corrupt ledger was moved to when it was opened, for whoever reports it. */
  readonly setAside: { file: string; problem: string } | undefined
  /** Told the kept entries after each change (the service shows the newest as metrics). */
  onChange: (entries: LedgerEntry[]) => void = () => {}

  constructor(
    readonly file: string,
    readonly limit = defaultLedgerLimit,
    now: () => Date = () => new Date(),
  ) {
    mkdirSync(dirname(file), { recursive: true })
    try {
      this.entries = readLedgerFile(file).slice(-limit)
      this.lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).length : 0
    } catch (error) {
      if (!(error instanceof LedgerFileError)) throw error
      // Kept beside the new one, named for when it was set aside: nothing is deleted.
      const aside = `${file}.corrupt-${now().toISOString().replaceAll(':', '')}`
      this.nextId = highestId(file) + 1
      renameSync(file, aside)
      this.setAside = { file: aside, problem: error.message }
    }
    this.nextId = Math.max(this.nextId, (this.entries.at(-1)?.id ?? 0) + 1)
  }

  /** The newest `limit` entries, oldest first. */
  list(): LedgerEntry[] {
    return [...this.entries]
  }

  get(id: number): LedgerEntry | undefined {
    return this.entries.find((e) => e.id === id)
  }

  /** Entries not finished: attempts a stopped gitops was following. */
  unfinished(): LedgerEntry[] {
    return this.entries.filter((e) => e.result === 'running')
  }

  /** Records a new attempt; returns it with its id. */
  add(entry: Omit<LedgerEntry, 'id'>): LedgerEntry {
    const recorded = { ...entry, id: this.nextId++ } as LedgerEntry
    this.write(recorded)
    return recorded
  }

  /** Records what changed about an entry (its stacks, its end). */
  update(id: number, change: Partial<Omit<LedgerEntry, 'id'>>): LedgerEntry {
    const current = this.get(id)
    if (!current) throw new ActivityError(this.file, `ledger entry ${id} does not exist (past the bound of ${this.limit} entries?)`)
    const updated = { ...current, ...change }
    this.write(updated)
    return updated
  }

  private write(entry: LedgerEntry): void {
    const at = this.entries.findIndex((e) => e.id === entry.id)
    if (at >= 0) this.entries[at] = entry
    else this.entries.push(entry)
    if (this.entries.length > this.limit) this.entries = this.entries.slice(-this.limit)
    // One write of one whole line: a crash leaves the line or nothing.
    appendFileSync(this.file, JSON.stringify(entry) + '\n')
    this.lines++
    if (this.lines > 2 * this.limit) this.compact()
    this.onChange(this.entries)
  }

  /** The file rewritten with one line per kept entry, through a temporary file (a crash never leaves half a ledger). */
  private compact(): void {
    writeFileSync(`${this.file}.tmp`, this.entries.map((e) => JSON.stringify(e) + '\n').join(''))
    renameSync(`${this.file}.tmp`, this.file)
    this.lines = this.entries.length
  }
}
