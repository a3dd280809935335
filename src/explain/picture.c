/* PNG heatmaps of attribution maps (libpng). */
#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <string.h>

#include "explain/explain.h"

/* Diverging map: -1 blue (0,0,255), 0 white, +1 red (255,0,0); linear in between. */
static void diverging(double v, png_byte rgb[3]) {
    if (!(v == v)) v = 0; /* NaN: white */
    if (v > 1) v = 1;
    if (v < -1) v = -1;
    png_byte fade = (png_byte)lround(255 * (1 - fabs(v)));
    rgb[0] = v >= 0 ? 255 : fade;
    rgb[1] = fade;
    rgb[2] = v <= 0 ? 255 : fade;
}

/* libpng reports errors by longjmp; this wrapper keeps the jmp_buf away from our locals. */
static int write_rows(FILE *fp, png_bytep *rows, png_uint_32 width, png_uint_32 height) {
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_init_io(png, fp);
    png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

cascade_status cascade_explain_png(const char *path, const float *map, int64_t h, int64_t w, int scale) {
    if (scale < 1) scale = 1;
    int64_t width = w * scale, height = h * scale;
    if (h < 1 || w < 1 || width > 1 << 16 || height > 1 << 16)
        return cascade_fail(CASCADE_EINTERNAL, "%s: cannot draw a %lld x %lld map", path, (long long)h, (long long)w);
    double peak = 0;
    for (int64_t i = 0; i < h * w; i++)
        if (fabs(map[i]) > peak) peak = fabs(map[i]);
    png_bytep pixels = cascade_alloc((size_t)(width * height * 3), "picture");
    png_bytep *rows = cascade_alloc((size_t)height * sizeof(png_bytep), "picture rows");
    cascade_status st = pixels && rows ? CASCADE_OK : CASCADE_EINTERNAL;
    for (int64_t y = 0; !st && y < height; y++) {
        rows[y] = pixels + y * width * 3;
        for (int64_t x = 0; x < width; x++)
            diverging(peak > 0 ? map[(y / scale) * w + x / scale] / peak : 0, rows[y] + x * 3);
    }
    FILE *fp = st ? NULL : fopen(path, "wb");
    if (!st && !fp) st = cascade_fail(CASCADE_EIO, "cannot write %s: %s", path, strerror(errno));
    if (fp) {
        int bad = write_rows(fp, rows, (png_uint_32)width, (png_uint_32)height);
        if (fclose(fp) != 0 || bad) st = cascade_fail(CASCADE_EIO, "cannot write PNG %s", path);
    }
    cascade_free(rows);
    cascade_free(pixels);
    return st;
}
