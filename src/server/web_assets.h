/* web_assets: the web UI's files (index.html, app.js, app.css) embedded in the binary.
 * The table is generated at build time by web/build.sh (scripts/embed_assets.py writes
 * build/.../web_assets.c); each entry carries its content type and a strong ETag. */
#ifndef PTYHUB_WEB_ASSETS_H
#define PTYHUB_WEB_ASSETS_H

#include <stddef.h>

/* One embedded file. etag is the opaque value of a strong ETag, without its quotes
 * ("sha256-0123..."): send it as `ETag: "<etag>"`, compare If-None-Match with it. */
struct web_asset {
    const char *path;         /* URL path, e.g. "/app.js" */
    const char *content_type; /* e.g. "text/javascript; charset=utf-8" */
    const unsigned char *data;
    size_t len;
    const char *etag;
};

/* Finds an asset by URL path ("/app.js"); "/" and "/s/<anything>" map to index.html.
 * A query string or fragment ("?view=1") is ignored. NULL if none. */
const struct web_asset *web_asset_find(const char *path, size_t len);

#endif
