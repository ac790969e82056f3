/** What the host side reports while a session is connected, beyond the session's own events. */
import type { TechnicianIdentity } from '../accounts/index.js'
import type { ConsentRequest, ConsentResult, Permission } from '../consent/types.js'

/** The kinds of SSH channel the host serves. */
export type ChannelKind = 'shell' | 'exec' | 'sftp' | 'view' | 'control' | 'present'

export type HostActivity =
  | ({ event: 'consent-request' } & ConsentRequest)
  | ({ event: 'consent-decision' } & ConsentResult)
  | {
      event: 'channel-open'
      /** Numbers channels in the order they opened, from 1, for this session. */
      channel: number
      kind: ChannelKind
      /** The exec command line, sanitized. */
      command?: string
    }
  | {
      event: 'channel-close'
      channel: number
      kind: ChannelKind
      exitCode?: number
      signal?: string
    }
  /** The end user pressed `r`: every channel closed and session grants forgotten. */
  | { event: 'grants-revoked'; closedChannels: number }
  /** The end user took control of their shared terminal back (Ctrl-]): control channels closed, the grant forgotten. */
  | { event: 'control-taken-back'; closedChannels: number }
  /** The end user stopped watching the technician's terminal (`rescue present`) with one key. */
  | { event: 'stopped-watching'; channel: number }
  /** A request the host has no consent prompt for (port forwarding, an unknown subsystem...): refused unasked. */
  | { event: 'refused'; request: string }
  /**
   * An environment variable the technician's client set (SendEnv, SetEnv) that the host passed on
   * to the channel's shell or command: LANG or LC_*, as sshd's default AcceptEnv. Any other is
   * `refused`, by its name alone: its value may be a secret of the technician's.
   */
  | { event: 'env'; name: string; value: string }
  /** A file that crossed through SFTP, with what arrived or left and its SHA-256. */
  | {
      event: 'file-transfer'
      direction: 'to-host' | 'from-host'
      /** The full path on this computer, sanitized. */
      path: string
      bytes: number
      sha256: string
      /** False when the transfer broke off (an upload's partial file stays for a resume). */
      complete: boolean
      /** A resumed download started here: `bytes - from` moved; `bytes` and `sha256` are the whole file's. */
      from?: number
    }
  /** A file on its way through SFTP, at most twice a second per file. */
  | {
      event: 'file-progress'
      direction: 'to-host' | 'from-host'
      path: string
      bytes: number
      total?: number
    }
  /** A chat line, from either side (text already sanitized). */
  | { event: 'chat'; from: 'host' | 'technician'; time: string; text: string }
  /** Which permissions `--auto-approve` pre-approved, once, when the session starts. */
  | { event: 'auto-approve'; permissions: Permission[] }
  /**
   * The end user is asked whether the technician reads them the same security words; until they
   * say yes, no request is shown or granted. For the view only (not the audit log): `deadline`
   * (ISO-8601) is when silence ends the session.
   */
  | {
      event: 'words-asked'
      sas: string
      deadline: string
      /** An invited technician's words (their email); absent for the session's own technician. */
      technician?: string
    }
  /** The end user said the security words match: requests are shown and answered from now on. */
  | { event: 'words-confirmed'; by: 'end-user'; technician?: string }
  /** The end user said they differ, or did not answer in time: the session ends. */
  | { event: 'words-rejected'; by: 'end-user' | 'timeout'; technician?: string }
  /** The lead invited another technician (rescue invite): they pair afresh, with words of their own. */
  | { event: 'technician-invited'; technician: TechnicianIdentity; by: TechnicianIdentity }
  /** An invited technician paired: their words are asked next. */
  | { event: 'technician-joined'; technician: TechnicianIdentity; sas: string }
  /** The end user removed an invited technician. */
  | { event: 'technician-removed'; technician: TechnicianIdentity }
  /**
   * A technician is gone (removed, left, or the words did not match): an invited one, or with
   * `first` the session's own technician, who left after handing the lead over while others go on.
   */
  | {
      event: 'technician-left'
      technician: TechnicianIdentity
      removed: boolean
      reason: string
      first?: boolean
    }
  /** The lead of the session is now `to` (rescue lead). */
  | { event: 'lead-changed'; to: TechnicianIdentity }
  /** An invitation the host refused unasked: nobody at this computer to let the technician in. */
  | { event: 'invitation-refused'; technician: TechnicianIdentity; reason: string }
  /**
   * `--auto-approve` with `--trust-gateway`: pre-approved for whoever the gateway pairs with,
   * nobody's identity checked by a key of the end user's. Warned on screen and in the audit log.
   */
  | { event: 'trust-gateway'; permissions: Permission[] }
  /**
   * The technician's side started or stopped recording shells and commands (recordings/host.ts):
   * `required` by their policy; `input` when their keystrokes are recorded too.
   */
  | { event: 'recording'; state: 'started' | 'stopped'; required: boolean; input: boolean; reason?: string }
  /**
   * The end user allowed a restart (`rescue reboot`): the sealed resume ticket is at `ticket`
   * (0600), the gateway is asked to hold the session `graceMs`, and the restart command runs next.
   */
  | { event: 'reboot-scheduled'; ticket: string; graceMs: number; command: string }
  /** After a restart, the end user confirmed rejoining this session (`rescue host --resume`); nothing allowed before carries over. */
  | { event: 'session-rejoined'; technician: string }
