/* Streaming input: a training set larger than memory_budget_mb stays in its file and each step
 * every rank reads just the samples of its own micro-batches. When every data set read is
 * contiguous little-endian float32 (and CASCADE_PREFETCH is not 0), the rows are read with
 * pread() from the data sets' byte offsets, and the next step's rows in the background while
 * this step computes (double buffering: `raw` is being filled while x/y are used); otherwise
 * with one collective HDF5 read per data set and step. Either way the same floats in the same
 * order, so results do not depend on the mode, the rank count or the prefetch. */
#ifndef CASCADE_DATA_STREAM_H
#define CASCADE_DATA_STREAM_H

#include "data/data.h"
#include "data/prefetch.h"

typedef struct {
    cascade_source src;
    MPI_Comm comm;          /* the ranks reading the file (not owned) */
    int64_t *rows;          /* file rows of the training samples (valid_fraction split), or NULL: all */
    cascade_dataset shape;  /* shapes and n of the training samples (x and y NULL) */
    /* one step's read: file rows and their order, the samples read in row order (sorted),
     * put back in micro-batch order (x, y: at most max_samples) */
    int64_t *fetch_rows, *fetch_order;
    float *x, *y, *xsorted, *ysorted, *tmp;
    /* direct reads (pread; see above): the data sets' rows in `raw`, by data set, sorted */
    int direct, prefetching;   /* the same on every rank */
    cascade_prefetch pf;
    const char *set_names[CASCADE_PREFETCH_SETS];
    float *raw;                /* (max_samples, sum of the data sets' row sizes) */
    int64_t *pre_rows, *pre_order; /* the background read: file rows, order + sorted rows */
    int64_t pre_n;
    int pending;               /* a background read of pre_rows, not yet used */
    int64_t *next_perm;        /* (shape.n): room for the next epoch's permutation (the caller's) */
} cascade_stream;

/* Opens the job's training file for streaming; takes ownership of rows (n_rows of them, or
 * NULL for every row); max_samples: the most samples one rank reads in a step. Collective. */
cascade_status cascade_stream_open(cascade_stream *s, const cascade_job *job, int64_t *rows, int64_t n_rows,
                                   int64_t max_samples, MPI_Comm comm);
void cascade_stream_close(cascade_stream *s);
/* Input normalisation (per channel/feature) and target standardisation over the training
 * rows: each rank reads its block of the rows, exact sums over the ranks (data.h), so the
 * statistics are the same bits for any rank count and as preloaded. Collective. */
cascade_status cascade_stream_norm(cascade_stream *s, const cascade_job *job, cascade_norm_stats *norm);
cascade_status cascade_stream_tnorm(cascade_stream *s, const cascade_job *job, cascade_norm_stats *tnorm);
/* Reads training samples samples[0..n) into x/y (normalised by norm and, with
 * normalize_targets, tnorm), in the given order; prefetched rows when the last
 * cascade_stream_prefetch asked for these samples. Collective (HDF5 reads) unless direct. */
cascade_status cascade_stream_fetch(cascade_stream *s, const cascade_job *job, const int64_t *samples, int64_t n,
                                    const cascade_norm_stats *norm, const cascade_norm_stats *tnorm);
/* Starts reading samples[0..n) in the background (the next step's), for the next fetch of
 * exactly those samples; a no-op without prefetching. Not collective. */
void cascade_stream_prefetch(cascade_stream *s, const int64_t *samples, int64_t n);
/* The samples of the last fetch as a data set view (n samples, not owned). */
cascade_dataset cascade_stream_view(const cascade_stream *s, int64_t n);

#endif
