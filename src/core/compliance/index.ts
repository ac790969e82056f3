/**
 * Compliance: session reports and chat transcripts from the sealed session log, CSV safe for
 * spreadsheets, the retention period and its purge, GDPR export and erasure, and the CRM webhook
 * with its persisted retry queue. Imports the store, accounts (roles, audit trail) and the
 * gateway's LogCipher; knows nothing of HTTP (gateway/compliance-routes.ts maps it onto routes).
 * Session artefacts kept beside the log (recordings) plug in through artefacts.ts.
 */
export * from './artefacts.js'
export * from './csv.js'
export * from './gdpr.js'
export * from './jobs.js'
export * from './reports.js'
export * from './retention.js'
export * from './session-log.js'
export * from './webhook.js'
export * from './export-file.js'
