// How numbers, durations and times read on screen.

const grouped = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 })
const whole = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 })

export const DASH = "—"

/** 12,345 or 12.5; "—" for nothing. */
export const num = (value: number | null | undefined) =>
  value === null || value === undefined || !Number.isFinite(value) ? DASH : grouped.format(value)

export const int = (value: number | null | undefined) =>
  value === null || value === undefined || !Number.isFinite(value) ? DASH : whole.format(value)

/** 950 / 12.3k / 4.5M, for tight places (bars, axes). */
export const compact = (value: number | null | undefined) => {
  if (value === null || value === undefined || !Number.isFinite(value)) return DASH
  const abs = Math.abs(value)
  if (abs >= 1e9) return `${(value / 1e9).toFixed(1)}G`
  if (abs >= 1e6) return `${(value / 1e6).toFixed(1)}M`
  if (abs >= 1e4) return `${(value / 1e3).toFixed(1)}k`
  return grouped.format(value)
}

/** Milliseconds, with a fraction only when small. */
export const ms = (value: number | null | undefined) => {
  if (value === null || value === undefined || !Number.isFinite(value)) return DASH
  return value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : whole.format(value)
}

/** 1h / 5m / 30s / 250ms. */
export const duration = (value: number | undefined) => {
  if (value === undefined || !Number.isFinite(value)) return DASH
  if (value === 0) return "0"
  const units: ReadonlyArray<[number, string]> = [
    [86_400_000, "d"],
    [3_600_000, "h"],
    [60_000, "m"],
    [1_000, "s"]
  ]
  for (const [size, unit] of units) if (value >= size && value % size === 0) return `${value / size}${unit}`
  return value >= 1_000 ? `${(value / 1_000).toFixed(1)}s` : `${value}ms`
}

const pad = (n: number) => String(n).padStart(2, "0")

/** HH:MM:SS in UTC. */
export const clock = (iso: string | null | undefined) => {
  if (!iso) return DASH
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return DASH
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
}

/** YYYY-MM-DD HH:MM:SS in UTC. */
export const stamp = (iso: string | null | undefined) => {
  if (!iso) return DASH
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return DASH
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${clock(iso)}`
}

/** "3s ago", relative to `now` (epoch ms). */
export const ago = (epochMs: number | null, now: number) => {
  if (epochMs === null) return "never"
  const s = Math.max(0, Math.round((now - epochMs) / 1000))
  if (s < 60) return `${s}s ago`
  if (s < 3600) return `${Math.floor(s / 60)}m ago`
  return `${Math.floor(s / 3600)}h ago`
}

/** A one-line preview of an event's data. */
export const preview = (data: unknown, max = 160) => {
  if (data === undefined) return ""
  let text: string
  try {
    text = typeof data === "string" ? data : JSON.stringify(data)
  } catch {
    text = String(data)
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}
