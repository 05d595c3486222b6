/** The OpenAPI 3.1 document of the ingest API, served at GET /openapi.json. */

const problem = { $ref: "#/components/schemas/Problem" }
const problemResponse = (description: string, headers?: Record<string, unknown>) => ({
  description,
  ...(headers ? { headers } : {}),
  content: { "application/problem+json": { schema: problem } }
})
const retryAfter = {
  "Retry-After": { schema: { type: "integer" }, description: "seconds to wait before retrying" }
}
// Sent for write keys that have a rate limit.
const rateLimitHeaders = {
  "RateLimit-Limit": {
    schema: { type: "integer" },
    description: "events the write key may send at once (its burst)"
  },
  "RateLimit-Remaining": { schema: { type: "integer" }, description: "events the write key may send now" },
  "RateLimit-Reset": {
    schema: { type: "integer" },
    description: "seconds until the write key may send a whole burst again"
  }
}

export const ingestOpenApi = {
  openapi: "3.1.0",
  info: {
    title: "EventFlow ingest API",
    version: "0.1.0",
    description:
      "CloudEvents 1.0 over HTTP (structured, batch and binary modes), deduplicated and routed to typed topics."
  },
  components: {
    securitySchemes: {
      writeKey: {
        type: "http",
        scheme: "bearer",
        description: "a write key; Basic with the key as user works too"
      }
    },
    schemas: {
      CloudEvent: {
        type: "object",
        required: ["specversion", "id", "source", "type"],
        properties: {
          specversion: { const: "1.0" },
          id: { type: "string", minLength: 1 },
          source: { type: "string", minLength: 1 },
          type: { type: "string", minLength: 1 },
          subject: { type: "string", minLength: 1 },
          time: { type: "string", format: "date-time" },
          datacontenttype: { type: "string" },
          dataschema: { type: "string", format: "uri" },
          data: {},
          data_base64: { type: "string", contentEncoding: "base64" }
        },
        additionalProperties: { type: ["string", "integer", "boolean"] }
      },
      EventResult: {
        type: "object",
        required: ["index", "status"],
        properties: {
          index: { type: "integer" },
          status: { enum: ["accepted", "duplicate", "rejected", "retry"] },
          id: { type: "string" },
          source: { type: "string" },
          topic: { type: "string", description: "where an accepted event went" },
          reason: { type: "string", description: "why an event was rejected or should be retried" }
        }
      },
      IngestResponse: {
        type: "object",
        required: ["accepted", "duplicate", "rejected", "retry", "results"],
        properties: {
          accepted: { type: "integer" },
          duplicate: { type: "integer" },
          rejected: { type: "integer" },
          retry: { type: "integer" },
          results: { type: "array", items: { $ref: "#/components/schemas/EventResult" } }
        }
      },
      Problem: {
        type: "object",
        required: ["type", "title", "status", "detail"],
        properties: {
          type: { type: "string", format: "uri" },
          title: { type: "string" },
          status: { type: "integer" },
          detail: { type: "string" }
        }
      }
    }
  },
  paths: {
    "/v1/events": {
      post: {
        summary: "Ingest one event, a batch, or one event in binary mode",
        security: [{ writeKey: [] }],
        requestBody: {
          required: true,
          content: {
            "application/cloudevents+json": { schema: { $ref: "#/components/schemas/CloudEvent" } },
            "application/cloudevents-batch+json": {
              schema: { type: "array", items: { $ref: "#/components/schemas/CloudEvent" } }
            },
            "application/json": {
              schema: {
                oneOf: [
                  { $ref: "#/components/schemas/CloudEvent" },
                  { type: "array", items: { $ref: "#/components/schemas/CloudEvent" } }
                ]
              }
            },
            "*/*": {
              description: "binary mode: the data, with ce-specversion, ce-id, ce-source, ce-type headers"
            }
          }
        },
        responses: {
          "202": {
            description: "a result per event",
            headers: rateLimitHeaders,
            content: { "application/json": { schema: { $ref: "#/components/schemas/IngestResponse" } } }
          },
          "400": problemResponse("the body cannot be read"),
          "401": problemResponse("no write key, or an unknown or revoked one"),
          "403": problemResponse("an event's source is not covered by the write key"),
          "413": problemResponse("the body or the batch is larger than the limits"),
          "415": problemResponse("unsupported content type"),
          "429": problemResponse(
            "the write key's rate limit is reached (Retry-After says when to send the request again), or the batch has more events than the key may send at once (no Retry-After: split it); nothing was accepted",
            { ...retryAfter, ...rateLimitHeaders }
          ),
          "503": problemResponse("a backend is unavailable; nothing was accepted", retryAfter)
        }
      }
    },
    "/healthz": { get: { summary: "The process is alive", responses: { "200": { description: "alive" } } } },
    "/readyz": {
      get: {
        summary: "Every backend answers",
        responses: { "200": { description: "ready" }, "503": { description: "a backend does not answer" } }
      }
    },
    "/openapi.json": {
      get: { summary: "This document", responses: { "200": { description: "OpenAPI 3.1" } } }
    }
  }
} as const
