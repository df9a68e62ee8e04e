/* vt_screen: the reference screen for tests/integration/test_screen.py. Feeds a file of
 * terminal output (everything a program wrote) into a fresh headless terminal of
 * COLS x ROWS and prints its text, then a line "CURSOR col row". Built by the test. */
#include <stdio.h>
#include <stdlib.h>

#include "term/vt.h"

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    struct vt *vt = vt_new((uint16_t)atoi(argv[1]), (uint16_t)atoi(argv[2]));
    FILE *f = fopen(argv[3], "rb");
    if (!f)
        return 1;
    uint8_t buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        vt_feed(vt, buf, n);
    fclose(f);
    size_t len = vt_text(vt, NULL, 0);
    char *text = malloc(len + 1);
    vt_text(vt, text, len + 1);
    uint16_t col, row;
    bool visible;
    vt_cursor(vt, &col, &row, &visible);
    printf("%s\nCURSOR %u %u\n", text, col, row);
    free(text);
    vt_free(vt);
    return 0;
}
