/* PNG heatmaps (libpng; see png.h). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "io/fsops.h"
#include "io/png.h"

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

/* Colours of the picture: pixel (px, py) of a width x height image, each drawn by `cell`. */
typedef struct {
    const float *map;
    int64_t h, w;
    double peak;  /* max |value|: full colour */
    double scale; /* pixels per cell (square) or per station spacing (hexagonal) */
    double u0, v0; /* hexagonal: lattice coordinates of the top-left corner */
} picture;

static void square_cell(const picture *p, int64_t px, int64_t py, png_byte rgb[3]) {
    int64_t r = (int64_t)(py / p->scale), c = (int64_t)(px / p->scale);
    diverging(p->peak > 0 ? p->map[r * p->w + c] / p->peak : 0, rgb);
}

/* Offset hexagonal grid (the air-shower array): station [r][c] at u = c + (r mod 2)/2,
 * v = r·√3/2 in units of the spacing, north (larger r) up. A pixel takes the colour of the
 * nearest lattice point — its hexagonal (Voronoi) cell — or grey outside the array. */
static void hex_cell(const picture *p, int64_t px, int64_t py, png_byte rgb[3]) {
    const double row_step = sqrt(3) / 2;
    double u = p->u0 + (px + 0.5) / p->scale, v = p->v0 - (py + 0.5) / p->scale;
    int64_t r0 = (int64_t)floor(v / row_step + 0.5), best_r = 0, best_c = 0;
    double best = HUGE_VAL;
    for (int64_t r = r0 - 1; r <= r0 + 1; r++) {
        double shift = (r & 1) ? 0.5 : 0;
        int64_t c0 = (int64_t)floor(u - shift + 0.5);
        for (int64_t c = c0 - 1; c <= c0 + 1; c++) {
            double du = u - (c + shift), dv = v - r * row_step, d = du * du + dv * dv;
            if (d < best) best = d, best_r = r, best_c = c;
        }
    }
    if (best_r < 0 || best_r >= p->h || best_c < 0 || best_c >= p->w) {
        rgb[0] = rgb[1] = rgb[2] = 224;
        return;
    }
    diverging(p->peak > 0 ? p->map[best_r * p->w + best_c] / p->peak : 0, rgb);
}

static cascade_status draw(const char *path, const picture *p, int64_t width, int64_t height,
                           void (*cell)(const picture *, int64_t, int64_t, png_byte[3])) {
    if (width < 1 || height < 1 || width > 1 << 16 || height > 1 << 16)
        return cascade_fail(CASCADE_EINTERNAL, "%s: cannot draw a %lld x %lld map", path, (long long)p->h,
                            (long long)p->w);
    png_bytep pixels = cascade_alloc((size_t)(width * height * 3), "picture");
    png_bytep *rows = cascade_alloc((size_t)height * sizeof(png_bytep), "picture rows");
    cascade_status st = pixels && rows ? CASCADE_OK : CASCADE_EINTERNAL;
    for (int64_t y = 0; !st && y < height; y++) {
        rows[y] = pixels + y * width * 3;
        for (int64_t x = 0; x < width; x++) cell(p, x, y, rows[y] + x * 3);
    }
    char tmp[PATH_MAX + 8]; /* PATH.tmp, renamed when complete */
    if (!st) st = cascade_output_tmp(path, tmp, sizeof tmp);
    FILE *fp = st ? NULL : fopen(tmp, "wb");
    if (!st && !fp) st = cascade_fail(CASCADE_EIO, "cannot write %s: %s", tmp, strerror(errno));
    if (fp) {
        int bad = write_rows(fp, rows, (png_uint_32)width, (png_uint_32)height);
        if (fclose(fp) != 0 || bad) st = cascade_fail(CASCADE_EIO, "cannot write PNG %s", tmp);
        if (!st && rename(tmp, path) != 0) st = cascade_fail(CASCADE_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
        if (st) unlink(tmp);
    }
    cascade_free(rows);
    cascade_free(pixels);
    return st;
}

static double peak_of(const float *map, int64_t n) {
    double peak = 0;
    for (int64_t i = 0; i < n; i++)
        if (fabs(map[i]) > peak) peak = fabs(map[i]);
    return peak;
}

cascade_status cascade_png_heatmap(const char *path, const float *map, int64_t h, int64_t w, int scale) {
    if (scale < 1) scale = 1;
    picture p = {map, h, w, peak_of(map, h * w), scale, 0, 0};
    return draw(path, &p, w * scale, h * scale, square_cell);
}

cascade_status cascade_png_heatmap_hex(const char *path, const float *map, int64_t h, int64_t w, int scale) {
    if (scale < 1) scale = 1;
    const double half_height = 1 / sqrt(3); /* a cell's circumradius at unit spacing */
    double v_top = (h - 1) * sqrt(3) / 2 + half_height;
    picture p = {map, h, w, peak_of(map, h * w), scale, -0.5, v_top};
    int64_t width = (int64_t)ceil((w + 0.5) * scale), height = (int64_t)ceil((v_top + half_height) * scale);
    return draw(path, &p, width, height, hex_cell);
}
