/**
 * CSV for spreadsheets, written by csv-stringify (node-csv: maintained, no dependencies, and it
 * has the formula escaping built in): RFC 4180 quoting (commas, quotes and line breaks inside a
 * cell), CRLF between records, UTF-8 with a byte-order mark (without it Excel reads the file as
 * the machine's legacy code page and mangles non-ASCII names), and a cell starting with = + - @,
 * a tab or a CR gets a leading ' so that a spreadsheet shows it as text instead of running it.
 */
import { stringify } from 'csv-stringify/sync'

export type CsvCell = string | number | boolean | null | undefined

/** The whole file: header row, then the rows, with the BOM first. */
export function toCsv(header: readonly string[], rows: readonly (readonly CsvCell[])[]): string {
  return stringify([header, ...rows] as CsvCell[][], {
    bom: true,
    record_delimiter: 'windows',
    escape_formulas: true,
    cast: { boolean: (value) => (value ? 'yes' : 'no') },
  })
}
