import { fireEvent, render, screen } from "@solidjs/testing-library"
import { describe, expect, it, vi } from "vitest"
import { App } from "../src/App.tsx"
import { createAuth } from "../src/data/auth.ts"
import { TOKEN_KEY } from "../src/data/config.ts"
import type { DashboardOptions } from "../src/data/dashboard.ts"
import { createFakeApi, json, problem, type Route, sse } from "./fakeApi.ts"
import { alert, event, health, pipeline, tick, tickId, topics } from "./fixtures.ts"

const TOKEN = "efr_0123456789ab_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

const routes = (down: ReadonlyArray<string> = []): Record<string, Route> => ({
  "/v1/health": () => json(health(down)),
  "/v1/topics": () => json(topics),
  "/v1/pipelines": () => json({ pipelines: [pipeline("revenue")] }),
  "/v1/pipelines/revenue/series": (r) =>
    json({
      pipeline: "revenue",
      field: r.query.get("field"),
      points: [
        { windowStart: "2026-11-26T09:59:00.000Z", value: 3 },
        { windowStart: "2026-11-26T10:00:00.000Z", value: 5 }
      ]
    }),
  "/v1/pipelines/revenue/top": (r) =>
    json({
      pipeline: "revenue",
      field: r.query.get("field"),
      from: null,
      to: null,
      rows: [{ key: "eu", value: 5 }]
    }),
  "/v1/alerts": () => json({ alerts: [alert("a1", 1)] }),
  "/v1/events/recent": (r) => {
    const type = r.query.get("type")
    const all = [event(2, "order.paid"), event(1, "order.created")]
    return json({ events: type ? all.filter((e) => e.type === type) : all })
  }
})

const options = (fetch: DashboardOptions["fetch"]): DashboardOptions => ({
  baseUrl: "",
  fetch,
  auth: createAuth({ storage: localStorage }),
  live: { backoff: { initialMs: 10, maxMs: 20 }, stallMs: 5_000 },
  intervals: { health: 60_000, topics: 60_000, pipelines: 60_000 },
  detailMinIntervalMs: 20
})

describe("the dashboard against a fake API", () => {
  it("shows ticks, health, lag, pipelines, alerts and events", async () => {
    const fake = createFakeApi(routes(["readmodel"]))
    render(() => <App options={options(fake.fetch)} />)

    await vi.waitFor(() => expect(fake.streams.length).toBe(1))
    await vi.waitFor(() => expect(screen.getByTestId("live-status").textContent).toBe("live"))
    const stream = fake.streams[0]!
    stream.send(sse("hello", { serverTime: "2026-11-26T10:00:00.000Z", intervalMs: 1000 }))
    stream.send(
      sse(
        "tick",
        tick(1, {
          ingestRate: 250,
          accepted: 12_345,
          ackP99Ms: 8.5,
          newRows: 1,
          rows: [
            {
              pipeline: "revenue",
              key: "eu",
              windowStart: "2026-11-26T10:00:00.000Z",
              windowEnd: "2026-11-26T10:01:00.000Z",
              final: false,
              values: { orders: 5 }
            }
          ],
          events: [event(3, "order.created")],
          alerts: [alert("a2", 3, { severity: "critical" })]
        }),
        tickId(1)
      )
    )
    stream.send(sse("tick", tick(2, { ingestRate: 260 }), tickId(2)))
    stream.send(sse("tick", tick(2, { ingestRate: 999 }), tickId(2)))

    await vi.waitFor(() => expect(screen.getByTestId("ingest-rate").textContent).toBe("260"))
    expect(screen.getByTestId("accepted-total").textContent).toBe("1,002")
    expect(screen.getByTestId("server-time").textContent).toBe("10:00:02")
    expect(screen.getByTestId("throughput-chart").dataset.points).toBe("2")

    await vi.waitFor(() => expect(screen.getByTestId("health-readmodel").dataset.ok).toBe("false"))
    expect(screen.getByTestId("down-banner").textContent).toContain("readmodel")
    expect(screen.getAllByTestId("lag-row").length).toBe(1)

    await vi.waitFor(() => expect(screen.getByTestId("pipeline-top-revenue").textContent).toBe("eu5"))
    expect(screen.getByTestId("pipeline-chart-revenue").dataset.points).toBe("2")
    expect(fake.calls("/v1/pipelines/revenue/series")[0]?.query.get("field")).toBe("orders")
    expect(fake.calls("/v1/pipelines/revenue/top")[0]?.query.get("limit")).toBe("5")

    await vi.waitFor(() =>
      expect(screen.getAllByTestId("event-row").map((r) => r.dataset.type)).toEqual([
        "order.created",
        "order.paid",
        "order.created"
      ])
    )
    expect(fake.calls("/v1/events/recent")[0]?.query.get("limit")).toBe("50")
    await vi.waitFor(() =>
      expect(
        [...screen.getByTestId("alerts").querySelectorAll("li")].map((li) => li.dataset.severity)
      ).toEqual(["critical", "warning"])
    )
    expect(fake.calls("/v1/alerts")[0]?.query.get("limit")).toBe("50")
    expect(screen.getAllByTestId("alert-row")[0]?.textContent).toContain("revenue/spike key eu = 42")
  })

  it("refetches the recent events of the type typed in the filter", async () => {
    const fake = createFakeApi(routes())
    render(() => <App options={options(fake.fetch)} />)
    await vi.waitFor(() => expect(screen.getAllByTestId("event-row").length).toBe(2))
    const input = screen.getByTestId("event-type-filter")
    fireEvent.input(input, { target: { value: "order.paid" } })
    fireEvent.submit(input.closest("form")!)
    await vi.waitFor(() =>
      expect(fake.calls("/v1/events/recent").at(-1)?.query.get("type")).toBe("order.paid")
    )
    await vi.waitFor(() =>
      expect(screen.getAllByTestId("event-row").map((r) => r.dataset.type)).toEqual(["order.paid"])
    )
    fake.streams[0]?.send(
      sse("tick", tick(5, { events: [event(7, "order.created"), event(8, "order.paid")] }), tickId(5))
    )
    await vi.waitFor(() => expect(screen.getAllByTestId("event-row").length).toBe(2))
    expect(screen.getAllByTestId("event-row").map((r) => r.dataset.type)).toEqual([
      "order.paid",
      "order.paid"
    ])
  })

  it("asks for a token on 401, then sends it as a Bearer token everywhere", async () => {
    const open = routes()
    const guarded = Object.fromEntries(
      ["/v1/health", "/v1/topics", "/v1/pipelines", "/v1/alerts", "/v1/events/recent", "/v1/live"].map(
        (path) => [
          path,
          ((r, next) =>
            r.headers.get("authorization") === `Bearer ${TOKEN}`
              ? (open[path]?.(r, next) ?? next())
              : problem(401, "unauthorized")) satisfies Route
        ]
      )
    )
    const fake = createFakeApi({ ...open, ...guarded })
    render(() => <App options={options(fake.fetch)} />)

    await vi.waitFor(() => expect(screen.getByTestId("token-form")).toBeTruthy())
    expect(screen.queryByTestId("health-eventlog")).toBeNull()
    fireEvent.input(screen.getByTestId("token-input"), { target: { value: TOKEN } })
    fireEvent.click(screen.getByTestId("token-submit"))

    await vi.waitFor(() => expect(screen.getByTestId("health-eventlog").dataset.ok).toBe("true"))
    expect(screen.queryByTestId("token-form")).toBeNull()
    expect(localStorage.getItem(TOKEN_KEY)).toBe(TOKEN)
    await vi.waitFor(() => expect(screen.getByTestId("live-status").textContent).toBe("live"))
    expect(fake.streams.at(-1)?.headers.get("authorization")).toBe(`Bearer ${TOKEN}`)
    await vi.waitFor(() => expect(screen.getAllByTestId("event-row").length).toBe(2))
  })

  it("says so when the API cannot be reached", async () => {
    const fetch = vi.fn(async () => {
      throw new TypeError("fetch failed")
    })
    render(() => <App options={options(fetch)} />)
    await vi.waitFor(() =>
      expect(screen.getByTestId("api-unreachable").textContent).toContain("fetch failed")
    )
    await vi.waitFor(() => expect(screen.getByTestId("live-status").textContent).toBe("offline"))
  })
})
