/** The one place that mounts Ink: mount a view, re-render it with new props, and unmount it. */
import { render } from 'ink'
import type { ReactElement } from 'react'

// Re-exported so lazy callers get React through this module: a bundled dynamic import of a
// CommonJS package has no named exports.
export { createElement } from 'react'

export interface MountedView {
  update(element: ReactElement): void
  /** Lets go of the terminal at once, drawing nothing more (a presentation takes the screen); mount again after. */
  suspend(): Promise<void>
  /** Renders the last frame and releases the terminal. */
  close(): Promise<void>
}

export function mountView(element: ReactElement): MountedView {
  // Ctrl-C is the command's to handle (it ends the session for both sides), not Ink's.
  const instance = render(element, { exitOnCtrlC: false, patchConsole: false })
  return {
    update: (next) => instance.rerender(next),
    async suspend() {
      instance.unmount()
      await instance.waitUntilExit()
      // Ink's last frame may still be on its way out: drawn before whatever takes the screen.
      await new Promise((resolve) => setImmediate(resolve))
    },
    async close() {
      instance.unmount()
      await instance.waitUntilExit()
      // Ink leaves the cursor at the end of its last line: what comes next (the shell's prompt)
      // starts on a line of its own, not as "…ended the sessionrc=0".
      process.stdout.write('\n')
    },
  }
}
