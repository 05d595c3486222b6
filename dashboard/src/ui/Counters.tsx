import type { Counters as CounterValues } from "../data/liveStore.ts"
import { int, ms, num } from "./format.ts"

const Stat = (props: {
  readonly label: string
  readonly value: string
  readonly raw: number | null | undefined
  readonly unit?: string
  readonly testid: string
  readonly tone?: "warn" | "bad" | undefined
}) => (
  <div class="stat" data-tone={props.tone}>
    <div class="stat-label">{props.label}</div>
    <div class="stat-value">
      <span data-testid={props.testid} data-value={props.raw ?? ""}>
        {props.value}
      </span>
      {props.unit ? <span class="unit">{props.unit}</span> : null}
    </div>
  </div>
)

export const Counters = (props: { readonly counters: CounterValues | null }) => {
  const c = () => props.counters
  return (
    <section class="counters" aria-label="live counters">
      <Stat
        label="ingest"
        value={num(c()?.ingestRate)}
        raw={c()?.ingestRate}
        unit="ev/s"
        testid="ingest-rate"
      />
      <Stat
        label="processed"
        value={num(c()?.processedRate)}
        raw={c()?.processedRate}
        unit="rec/s"
        testid="processed-rate"
      />
      <Stat label="ack p50" value={ms(c()?.ackP50Ms)} raw={c()?.ackP50Ms} unit="ms" testid="ack-p50" />
      <Stat label="ack p99" value={ms(c()?.ackP99Ms)} raw={c()?.ackP99Ms} unit="ms" testid="ack-p99" />
      <Stat
        label="lag"
        value={int(c()?.lag)}
        raw={c()?.lag}
        unit="rec"
        testid="lag-total"
        tone={(c()?.lag ?? 0) > 10_000 ? "warn" : undefined}
      />
      <Stat label="accepted" value={int(c()?.accepted)} raw={c()?.accepted} testid="accepted-total" />
      <Stat label="duplicates" value={int(c()?.duplicates)} raw={c()?.duplicates} testid="duplicates-total" />
      <Stat
        label="rejected"
        value={int(c()?.rejected)}
        raw={c()?.rejected}
        testid="rejected-total"
        tone={(c()?.rejected ?? 0) > 0 ? "bad" : undefined}
      />
    </section>
  )
}
