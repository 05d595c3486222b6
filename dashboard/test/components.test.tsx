import { fireEvent, render, screen } from "@solidjs/testing-library"
import { describe, expect, it, vi } from "vitest"
import { Banners } from "../src/ui/Banners.tsx"
import { Counters } from "../src/ui/Counters.tsx"
import { EventTail, FILTER_DEBOUNCE_MS } from "../src/ui/EventTail.tsx"
import { HealthPanel } from "../src/ui/HealthPanel.tsx"
import { LagPanel } from "../src/ui/LagPanel.tsx"
import { describeWindow, PipelineCard } from "../src/ui/PipelineCard.tsx"
import { TokenForm } from "../src/ui/TokenForm.tsx"
import { event, health, pipeline, topics } from "./fixtures.ts"

describe("Counters", () => {
  it("shows the tick's values", () => {
    render(() => (
      <Counters
        counters={{
          ingestRate: 1234,
          processedRate: 987.5,
          ackP50Ms: 2.5,
          ackP99Ms: 11.25,
          lag: 42_000,
          accepted: 1_000_001,
          duplicates: 3,
          rejected: 0,
          processed: 5
        }}
      />
    ))
    expect(screen.getByTestId("ingest-rate").textContent).toBe("1,234")
    expect(screen.getByTestId("processed-rate").textContent).toBe("987.5")
    expect(screen.getByTestId("ack-p99").textContent).toBe("11.3")
    expect(screen.getByTestId("ack-p99").dataset.value).toBe("11.25")
    expect(screen.getByTestId("accepted-total").textContent).toBe("1,000,001")
    expect(screen.getByTestId("lag-total").textContent).toBe("42,000")
    expect(screen.getByTestId("lag-total").closest(".stat")?.getAttribute("data-tone")).toBe("warn")
  })

  it("shows dashes before the first tick", () => {
    render(() => <Counters counters={null} />)
    expect(screen.getByTestId("ingest-rate").textContent).toBe("—")
  })
})

describe("HealthPanel and Banners", () => {
  it("marks a down component and names it in the banner", () => {
    render(() => (
      <>
        <Banners health={health(["readmodel"])} unreachable={false} error={null} apiBase="" lastOk="1s ago" />
        <HealthPanel health={health(["readmodel"])} stale={false} />
      </>
    ))
    const row = screen.getByTestId("health-readmodel")
    expect(row.dataset.ok).toBe("false")
    expect(row.textContent).toContain("DOWN")
    expect(row.textContent).toContain("readmodel connection refused")
    expect(screen.getByTestId("health-eventlog").dataset.ok).toBe("true")
    expect(screen.getAllByTestId(/^health-(?!status)/).length).toBe(6)
    expect(screen.getByTestId("down-banner").textContent).toBe("DOWNreadmodel: readmodel connection refused")
    expect(screen.getByTestId("health-status").textContent).toBe("degraded")
  })

  it("says when the API itself cannot be reached", () => {
    render(() => (
      <Banners
        health={health(["readmodel"])}
        unreachable
        error="unreachable: fetch failed"
        apiBase="https://query.example"
        lastOk="12s ago"
      />
    ))
    expect(screen.getByTestId("api-unreachable").textContent).toContain("https://query.example")
    expect(screen.getByTestId("api-unreachable").textContent).toContain("last answer 12s ago")
    expect(screen.queryByTestId("down-banner")).toBeNull()
  })
})

describe("LagPanel", () => {
  it("shows each group's lag per topic-partition", () => {
    render(() => <LagPanel topics={topics} stale={false} />)
    const rows = screen.getAllByTestId("lag-row")
    expect(rows.map((r) => r.dataset.lag)).toEqual(["5"])
    expect(rows[0]?.textContent).toContain("orders[0]")
    expect(screen.getByTestId("lag-group-eventflow-revenue").textContent).toContain("lag 5")
  })
})

describe("PipelineCard", () => {
  it("describes the window, the counts, the chart points and the top keys", () => {
    render(() => (
      <PipelineCard
        pipeline={pipeline("revenue", { poison: 3 })}
        detail={{
          field: "orders",
          points: [
            { windowStart: "2026-11-26T09:59:00.000Z", value: 4 },
            { windowStart: "2026-11-26T10:00:00.000Z", value: 6 }
          ],
          top: [
            { key: "eu", value: 4 },
            { key: "us", value: 2 }
          ],
          error: null
        }}
      />
    ))
    const card = screen.getByTestId("pipeline-revenue")
    expect(card.textContent).toContain("tumbling 1m · grace 5s")
    expect(card.textContent).toContain("poison 3")
    expect(screen.getByTestId("pipeline-chart-revenue").dataset.points).toBe("2")
    expect(screen.getByTestId("pipeline-top-revenue").textContent).toBe("eu4us2")
  })

  it("names hopping and session windows", () => {
    expect(describeWindow({ kind: "hopping", sizeMs: 300_000, advanceMs: 60_000, graceMs: 0 })).toBe(
      "hopping 5m every 1m · grace 0"
    )
    expect(describeWindow({ kind: "session", gapMs: 30_000, graceMs: 1_500 })).toBe(
      "session gap 30s · grace 1.5s"
    )
  })
})

describe("EventTail", () => {
  it("lists the events with their type and applies the filter after a pause in typing", async () => {
    vi.useFakeTimers()
    try {
      const onFilter = vi.fn()
      const events = [event(2, "order.paid"), event(1)].map((e) => ({ ...e, uid: e.offset }))
      render(() => (
        <EventTail events={events} filter="" types={["order.created", "order.paid"]} onFilter={onFilter} />
      ))
      const rows = screen.getAllByTestId("event-row")
      expect(rows.map((r) => r.dataset.type)).toEqual(["order.paid", "order.created"])
      const input = screen.getByTestId("event-type-filter") as HTMLInputElement
      fireEvent.input(input, { target: { value: "order.p" } })
      fireEvent.input(input, { target: { value: "order.paid" } })
      vi.advanceTimersByTime(FILTER_DEBOUNCE_MS - 1)
      expect(onFilter).not.toHaveBeenCalled()
      vi.advanceTimersByTime(1)
      expect(onFilter).toHaveBeenCalledExactlyOnceWith("order.paid")
      expect(document.querySelectorAll("#event-types option").length).toBe(2)
    } finally {
      vi.useRealTimers()
    }
  })
})

describe("TokenForm", () => {
  it("hands over the typed token", () => {
    const onSubmit = vi.fn()
    render(() => <TokenForm rejected onSubmit={onSubmit} />)
    expect(screen.getByTestId("token-form").textContent).toContain("refused")
    fireEvent.input(screen.getByTestId("token-input"), { target: { value: " efr_abc " } })
    fireEvent.click(screen.getByTestId("token-submit"))
    expect(onSubmit).toHaveBeenCalledExactlyOnceWith("efr_abc")
  })
})
