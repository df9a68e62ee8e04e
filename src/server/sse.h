/* sse: GET /api/events as Server-Sent Events (text/event-stream) — the lifecycle events
 * of every session (events.h) for HTTP clients, one `event: KIND` / `data: {json}`
 * record each, and a comment line every 15 s so proxies and clients see the stream is
 * alive. The stream replaces the HTTP layer on its link (as a WebSocket upgrade does),
 * so no HTTP request or send timeout applies to it; it ends when the client goes away. */
#ifndef PTYHUB_SSE_H
#define PTYHUB_SSE_H

#include <stdint.h>

struct link;

/* Turns an HTTP link whose 200 head is queued into an event stream of the kinds in mask
 * (bit k: event kind k). */
void sse_adopt(struct link *l, uint32_t mask);

#endif
