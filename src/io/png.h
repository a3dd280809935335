/* PNG heatmaps (libpng), for explain's attribution maps and training's sample pictures. */
#ifndef CASCADE_IO_PNG_H
#define CASCADE_IO_PNG_H

#include <stdint.h>

#include "cascade/core.h"

/* Writes a (h, w) map as a PNG heatmap: diverging blue-white-red scaled to max |value|
 * (white = 0), each cell drawn as a square of `scale` pixels. */
cascade_status cascade_png_heatmap(const char *path, const float *map, int64_t h, int64_t w, int scale);
/* The same on the air-shower array's offset hexagonal grid (CONTRACT: station [r][c] at
 * x = c + (r mod 2)/2, y = r·√3/2 spacings): hexagonal cells, north (row h−1) at the top, grey
 * outside the array; `scale` pixels per station spacing. */
cascade_status cascade_png_heatmap_hex(const char *path, const float *map, int64_t h, int64_t w, int scale);

#endif
