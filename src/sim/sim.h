/* Built-in simulators: the table each simulator registers, per-event random streams, and
 * the MPI driver behind `cascade simulate KIND`. Every event is drawn from Philox streams
 * keyed by (seed, kind) with the event index in the counter, so a file's contents do not
 * depend on the number of ranks (each rank generates a contiguous block of events). */
#ifndef CASCADE_SIM_H
#define CASCADE_SIM_H

#include <mpi.h>

#include "cascade/core.h"
#include "cascade/h5io.h"

#define SIM_MAX_FIELDS 16
#define SIM_MAX_ATTRS 48
#define SIM_MAX_OPTIONS 32

/* A data set of the output file: per-event shape and element type. */
typedef struct {
    char name[48];
    cascade_h5_elem type;
    int ndim;
    int64_t dims[4];
} sim_field;

/* A root attribute recording a parameter: a number or a string. */
typedef struct {
    char name[48];
    int is_string;
    double number;
    char text[160];
} sim_attr;

/* KIND-OPTIONs from the command line: `--key value` or a bare `--flag`. */
typedef struct {
    int n;
    struct {
        const char *key, *value; /* value NULL for a bare flag */
        int used;
    } opt[SIM_MAX_OPTIONS];
} sim_options;

/* Typed getters; errors (CASCADE_EUSAGE) name the option and the expected values. */
cascade_status sim_opt_double(sim_options *o, const char *key, double dflt, double min, double max, double *out);
cascade_status sim_opt_int(sim_options *o, const char *key, long dflt, long min, long max, long *out);
cascade_status sim_opt_enum(sim_options *o, const char *key, const char *const *choices, int dflt, int *out);
cascade_status sim_opt_flag(sim_options *o, const char *key, int *out);

typedef struct sim_kind {
    const char *kind;     /* "airshower" */
    uint32_t id;          /* distinct per kind: stream purpose CASCADE_RNG_SIM + id */
    const char *help;     /* the kind's options, one per line ("  --domain sim|data  ...") */
    size_t cfg_size;
    /* Parses the kind's options (the driver rejects the unused ones afterwards). */
    cascade_status (*configure)(void *cfg, sim_options *o);
    /* Data sets written for this configuration; returns their number. */
    int (*fields)(const void *cfg, sim_field *f);
    /* Kind-specific root attributes (every parameter); returns their number. */
    int (*attrs)(const void *cfg, sim_attr *a);
    /* Event `index` into rows[f] (one per-event row of field f, typed as the field).
     * Must be thread-safe and depend only on (cfg, seed, index). */
    void (*generate)(const void *cfg, uint64_t seed, int64_t index, void *const *rows);
} sim_kind;

const sim_kind *sim_find(const char *kind);
const char *sim_kinds(void); /* "airshower calorimeter ..." */

/* Per-event random stream: Philox keyed by (seed, CASCADE_RNG_SIM + kind id), counter
 * (event index, draw number). */
typedef struct {
    uint64_t seed, event, draw;
    uint32_t purpose;
    uint32_t buf[4];
    int left;
} sim_rng;

void sim_rng_init(sim_rng *r, uint64_t seed, uint32_t kind_id, int64_t event);
/* Sub-stream `k` of an event (e.g. per station), independent of how many draws came before. */
void sim_rng_sub(sim_rng *r, const sim_rng *parent, uint64_t k);
double sim_uniform(sim_rng *r);                   /* [0, 1), 53 bits */
double sim_uniform_pos(sim_rng *r);               /* (0, 1] */
double sim_normal(sim_rng *r);                    /* N(0, 1) */
double sim_exponential(sim_rng *r, double mean);
double sim_gamma(sim_rng *r, double shape, double scale); /* Marsaglia-Tsang */
long sim_poisson(sim_rng *r, double mean);        /* exact for mean < 30, else rounded normal */
double sim_gumbel(sim_rng *r, double mu, double beta);

typedef struct {
    int64_t n;
    uint64_t seed;
    int compress;
    int64_t block; /* events per write round [4096] */
} sim_run;

/* Generates and writes OUT (via OUT.tmp, renamed at the end). Collective over comm.
 * Returns the generation and total times (for benchmarks) when the pointers are non-NULL. */
cascade_status cascade_simulate(const sim_kind *k, const void *cfg, const sim_run *run, const char *out,
                                MPI_Comm comm, double *gen_seconds, double *total_seconds);

#endif
