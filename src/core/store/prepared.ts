/**
 * A query built and compiled by Kysely once, then run with new parameters: Kysely builds its
 * operation tree, freezes it and compiles it to SQL on every call, which was about a tenth of a
 * busy gateway's CPU (bench/gateways.ts). The first call builds the query with a marker for each
 * argument and notes where each marker lands among the compiled parameters; later calls put the
 * arguments there. The SQL text, and so the dialect's own placeholders, never change.
 */
import { CompiledQuery, type Compilable, type Kysely, type QueryResult } from 'kysely'
import { BugError } from '../errors.js'

const MARKER = '\u0000rescue-argument-'

export class PreparedQuery<A extends unknown[], R> {
  private compiled?: { sql: string; constants: readonly unknown[]; slots: number[] }

  /** `build` must use each argument as a value only (a parameter), never to choose the query's shape. */
  constructor(private readonly build: (...args: A) => Compilable<R>) {}

  async execute(db: Pick<Kysely<unknown>, 'executeQuery'>, ...args: A): Promise<QueryResult<R>> {
    return db.executeQuery<R>(this.with(...args))
  }

  /** The compiled query with these arguments, to run elsewhere (in one transaction with others). */
  with(...args: A): CompiledQuery<R> {
    const compiled = this.compiled ?? this.compile(args.length)
    const parameters = compiled.slots.map((slot, index) =>
      slot < 0 ? compiled.constants[index] : args[slot],
    )
    return CompiledQuery.raw(compiled.sql, parameters) as CompiledQuery<R>
  }

  private compile(arity: number) {
    const markers = Array.from({ length: arity }, (_, index) => `${MARKER}${index}`) as A
    const query = this.build(...markers).compile()
    const slots = query.parameters.map((value) =>
      typeof value === 'string' && value.startsWith(MARKER) ? Number(value.slice(MARKER.length)) : -1,
    )
    // Every argument must have become a parameter, and none may have reached the SQL text itself.
    if (query.sql.includes(MARKER) || new Set(slots.filter((slot) => slot >= 0)).size !== arity) {
      throw new BugError(`a prepared query does not take its arguments as parameters: ${query.sql}`)
    }
    this.compiled = { sql: query.sql, constants: query.parameters, slots }
    return this.compiled
  }
}
