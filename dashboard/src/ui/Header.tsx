import type { LiveStatus } from "../data/live.ts"
import { clock } from "./format.ts"

export const Header = (props: {
  readonly status: LiveStatus
  readonly serverTime: string | null
  readonly apiBase: string
  readonly hasToken: boolean
  readonly onToken: () => void
}) => (
  <header class="header">
    <div class="wordmark">
      EVENT<span>FLOW</span>
    </div>
    <div class="header-meta">
      <span class="meta">
        api <b>{props.apiBase === "" ? "same origin" : props.apiBase}</b>
      </span>
      <button type="button" class="link" onClick={() => props.onToken()}>
        {props.hasToken ? "token ✓" : "token"}
      </button>
      <span class="meta">
        server <b data-testid="server-time">{clock(props.serverTime)}</b> UTC
      </span>
      <span class="live-status" data-state={props.status}>
        <span class="dot" aria-hidden="true" />
        <span data-testid="live-status">{props.status}</span>
      </span>
    </div>
  </header>
)
