// Errors of the data lifecycle, with their facts attached; the CLI prints each as one line.

/** A backup that cannot be used as it is: names the backup, the part, what is wrong and what to do. */
export class BackupError extends Error {
  constructor(
    readonly backup: string,
    readonly part: string | undefined,
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`backup ${backup}: ${part ? `part '${part}' ` : ''}${problem}; ${fix}`)
    this.name = 'BackupError'
  }
}

/** A store that refused, or could not be reached, during a backup or restore. */
export class StoreError extends Error {
  constructor(
    readonly store: string,
    readonly where: string,
    readonly problem: string,
    readonly fix?: string,
  ) {
    super(`${store} (${where}): ${problem}${fix ? `; ${fix}` : ''}`)
    this.name = 'StoreError'
  }
}

/** Elasticsearch answered an error, or could not be reached. */
export class ElasticsearchError extends Error {
  constructor(
    readonly url: string,
    /** What was being done: "reading the ILM policy nginx-access". */
    readonly action: string,
    readonly status: number | undefined,
    readonly type: string,
    readonly reason: string,
    readonly fix: string,
  ) {
    super(`Elasticsearch at ${url}, ${action}: ${status ? `answered ${status} ` : ''}${type}${reason ? ` (${reason})` : ''}; ${fix}`)
    this.name = 'ElasticsearchError'
  }
}

/** A program this command runs (sqlite3, pg_dump, zstd, docker) is missing or failed. */
export class ProgramError extends Error {
  constructor(
    readonly program: string,
    readonly problem: string,
    readonly fix: string,
  ) {
    super(`${program}: ${problem}; ${fix}`)
    this.name = 'ProgramError'
  }
}
