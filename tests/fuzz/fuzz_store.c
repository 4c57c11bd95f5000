/* The store: open (index or recovery scan), read every layer, label set and
 * metadata pair, and verify; then salvage it (in place: the input is a
 * temporary copy) and verify again, which must then pass or say why. */
#include "fuzz_common.h"

#include "layergeom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size);
    lg_store *s;
    lg_error err;
    if (lg_store_open(path, 0, &s, &err) == LG_OK) {
        for (size_t i = 0; i < lg_store_layer_count(s); i++) {
            lg_layer_info L;
            lg_store_layer(s, i, &L);
            lg_cursor *c;
            if (lg_cursor_open(s, i, 7, &c, &err))
                continue;
            const float *rows;
            uint64_t r0;
            size_t n = 1;
            while (n && lg_cursor_next(c, &rows, &r0, &n, &err) == LG_OK)
                ;
            lg_cursor_close(c);
        }
        lg_layer_info P;
        if (lg_store_pending(s, &P)) {
            lg_cursor *c;
            float *buf = malloc((size_t)P.d * sizeof *buf);
            if (buf && lg_cursor_open_pending(s, 1, &c, &err) == LG_OK) {
                for (uint64_t r = 0; r < P.n; r++)
                    lg_cursor_read(c, r, 1, buf, &err);
                lg_cursor_close(c);
            }
            free(buf);
        }
        for (size_t i = 0; i < lg_store_label_set_count(s); i++) {
            const int64_t *lab;
            uint64_t n;
            lg_store_labels(s, lg_store_label_set_name(s, i), &lab, &n, &err);
        }
        for (size_t i = 0; i < lg_store_meta_count(s); i++) {
            const char *k;
            const void *v;
            size_t len;
            lg_store_meta_at(s, i, &k, &v, &len);
        }
        lg_store_close(s);
    }
    lg_store_verify(path, NULL, NULL, &err);
    char note[LG_ERROR_MSG_MAX];
    if (lg_store_salvage(path, note, sizeof note, &err) == LG_OK)
        lg_store_verify_note(path, NULL, NULL, note, sizeof note, &err);
    return 0;
}
