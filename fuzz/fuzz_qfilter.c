/* fuzz_qfilter: libFuzzer target for the attach's terminal-query filter (cli/qfilter).
 *
 * Input: one byte choosing a chunk size (1..256), then the output stream. Checks that the
 * result does not depend on how the stream is cut (whole against chunked), that nothing
 * is written past the documented bound, and that the filter only removes bytes and adds
 * CANs: every other byte value appears at most as often as in the input. (It is not a
 * strict subsequence check: C0 controls inside a held CSI go out ahead of it.)
 *
 * Build: make build/fuzz/fuzz_qfilter
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/qfilter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] + 1;
    data++;
    size--;
    uint8_t *a = malloc(size + QFILTER_HOLD + 1), *b = malloc(size + QFILTER_HOLD + 1);
    uint8_t *tmp = malloc(chunk + QFILTER_HOLD + 1);
    struct qfilter f;
    qfilter_init(&f);
    size_t na = qfilter_feed(&f, data, size, a);
    na += qfilter_flush(&f, a + na);
    if (na > size + QFILTER_HOLD + 1)
        abort();
    qfilter_init(&f);
    size_t nb = 0;
    for (size_t i = 0; i < size; i += chunk) {
        size_t n = size - i < chunk ? size - i : chunk;
        size_t o = qfilter_feed(&f, data + i, n, tmp);
        if (o > n + QFILTER_HOLD + 1)
            abort();
        memcpy(b + nb, tmp, o);
        nb += o;
    }
    nb += qfilter_flush(&f, b + nb);
    if (na != nb || memcmp(a, b, na) != 0)
        abort(); /* the result depends on how the stream was cut */
    /* Every byte value other than CAN appears at most as often as in the input. */
    size_t in_count[256] = {0}, out_count[256] = {0};
    for (size_t i = 0; i < size; i++)
        in_count[data[i]]++;
    for (size_t i = 0; i < na; i++)
        out_count[a[i]]++;
    for (int v = 0; v < 256; v++)
        if (v != 0x18 && out_count[v] > in_count[v])
            abort();
    free(a);
    free(b);
    free(tmp);
    return 0;
}
