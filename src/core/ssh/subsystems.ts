/** The names of rescue's own SSH subsystems, in one place light enough for any side to import. */
export const SYSINFO_SUBSYSTEM = 'sysinfo@rescue'
export const TRANSFER_SUBSYSTEM = 'transfer@rescue'
/** The single prompt (`rescue ask-all`). */
export const SINGLE_PROMPT_SUBSYSTEM = 'single-prompt@rescue'
/**
 * The end user's answer about the security words, asked for by the technician once SSH is up and
 * answered by the host when it knows it: inside SSH, so the gateway cannot forge it.
 */
export const WORDS_SUBSYSTEM = 'words@rescue'
/** Host to technician: why each refused channel request was refused (JSON lines; needs no consent). */
export const REFUSALS_SUBSYSTEM = 'refusals@rescue'
/** The message of the exit signal (HUP) a shell or command gets when the end user revokes access. */
export const REVOKED_MESSAGE = 'the end user revoked access'
/**
 * Technician to host: watch the end user's shared terminal (`rescue host --share`), asked as
 * `view`. The host streams the terminal's output; the technician sends framed keys and window
 * sizes (share/frames.ts), and its keys reach the shell only while a `control@rescue` is open.
 */
export const VIEW_SUBSYSTEM = 'view@rescue'
/** Technician to host: type in the shared terminal, asked as `control`; closed when the end user takes it back. */
export const CONTROL_SUBSYSTEM = 'control@rescue'
/** The message of the exit signal a control channel gets when the end user takes control back. */
export const CONTROL_TAKEN_BACK = 'the end user took control back'
/**
 * Technician to host: open one web address on the end user's computer (`rescue url`), asked as
 * `url` with the address shown whole. The technician writes the address and a new line; the host
 * answers one JSON line ({"opened":true} or {"error":"..."}) and closes.
 */
export const URL_SUBSYSTEM = 'url@rescue'
/**
 * Technician to host: the end user's clipboard (`rescue clipboard push|pull`), asked as
 * `clipboard`. The technician writes one JSON line ({"op":"push","text":…} or {"op":"pull"}); the
 * host answers one JSON line ({"ok":true}, {"text":…} or {"error":…,"code":…}) and closes.
 */
export const CLIPBOARD_SUBSYSTEM = 'clipboard@rescue'
/**
 * Technician to host: restart the end user's computer (`rescue reboot`), asked as `reboot`. The
 * host answers one JSON line ({"scheduled":true,"graceMs":…} or {"error":…,"code":…}) and closes;
 * once allowed, it writes its resume ticket, leaves the session for the restart and restarts.
 */
export const REBOOT_SUBSYSTEM = 'reboot@rescue'
/**
 * Technician to host: show the technician's own terminal on the end user's screen, read only
 * (`rescue present`), asked as `present`. The technician sends frames (share/frames.ts) of its
 * terminal's output; the host sends frames of the window it shows it in, the first one as soon
 * as the end user allowed it. Nothing the end user types is ever sent.
 */
export const PRESENT_SUBSYSTEM = 'present@rescue'
/** The message of the exit signal a present channel gets when the end user stops watching. */
export const STOPPED_WATCHING = 'the end user stopped watching'
/**
 * Technician to host: one file's bytes as a plain stream, for a file an SFTP handle of the same
 * SSH connection has open (transfer/stream.ts). Opening it asks nothing: the SFTP OPEN asked.
 */
export const FILE_STREAM_SUBSYSTEM = 'file-stream@rescue'
