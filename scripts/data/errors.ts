// Errors of the data lifecycle, with their facts attached; the CLI prints each as one line.
import { ActivityError } from '../../collectors/runtime/errors.ts'

/** A backup that cannot be used as it is: names the backup, the part, what is wrong and what to do. */
export class BackupError extends ActivityError {
  constructor(
    readonly backup: string,
    readonly part: string | undefined,
    problem: string,
    fix: string,
  ) {
    super(`backup ${backup}`, `${part ? `part '${part}' ` : ''}${problem}`, fix)
  }
}

/** A store that refused, or could not be reached, during a backup or restore. */
export class StoreError extends ActivityError {
  constructor(
    readonly store: string,
    readonly at: string,
    problem: string,
    fix?: string,
  ) {
    super(`${store} (${at})`, problem, fix)
  }
}

/** Elasticsearch answered an error, or could not be reached. */
export class ElasticsearchError extends ActivityError {
  constructor(
    readonly url: string,
    /** What was being done: "reading the ILM policy nginx-access". */
    readonly action: string,
    readonly status: number | undefined,
    readonly type: string,
    readonly reason: string,
    fix: string,
  ) {
    super(`Elasticsearch at ${url}, ${action}`, `${status ? `answered ${status} ` : ''}${type}${reason ? ` (${reason})` : ''}`, fix)
  }
}
