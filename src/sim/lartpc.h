/* LArTPC neutrino simulator (`cascade simulate lartpc`): the pieces shared by the event
 * generator (lartpc.c), the particle transport (lartpc_transport.c) and the physics tests.
 *
 * Frame: x[0] = wire coordinate, x[1] = drift (time) coordinate, x[2] = along the wires
 * (projected away), all in cm from the image corner. Pixel (w, t) covers
 * [w, w+1) x [t, t+1) pixel_cm. The beam points along +x[0]. Charge is in MIP units: a
 * minimum-ionising particle crossing one pixel parallel to the wire axis leaves 1.0. */
#ifndef CASCADE_SIM_LARTPC_H
#define CASCADE_SIM_LARTPC_H

#include "sim/sim.h"

#define LARTPC_SIZE 64 /* wires = time samples per image */
#define LARTPC_PIXELS (LARTPC_SIZE * LARTPC_SIZE)
#define LARTPC_KIND_ID 3

/* Liquid argon (PDG): density, radiation length, minimum-ionisation dE/dx. */
#define LAR_DENSITY 1.396   /* g/cm^3 */
#define LAR_X0_CM 14.0      /* radiation length */
#define LAR_MIP_DEDX 2.12   /* MeV/cm: 1.519 MeV cm^2/g x density */
#define LAR_LAMBDA_INT 85.7 /* nuclear interaction length, cm */

#define MASS_ELECTRON 0.511 /* MeV */
#define MASS_MUON 105.66
#define MASS_PION 139.57
#define MASS_PI0 134.98
#define MASS_PROTON 938.27

/* Event classes (event_label) and pixel labels (pixel_label). */
enum { LARTPC_NUMU_CC = 0, LARTPC_NUE_CC = 1, LARTPC_NC = 2 };
enum { LARTPC_EMPTY = 0, LARTPC_TRACK = 1, LARTPC_SHOWER = 2 };

/* Track-like species (label 1). */
typedef enum { LARTPC_MUON, LARTPC_PROTON, LARTPC_PION } lartpc_species;

/* Noise-free charge of one event, split by who deposited it ([wire][time], MIP units). */
typedef struct {
    float track[LARTPC_PIXELS];
    float shower[LARTPC_PIXELS];
    double pixel_cm, inv_pixel_cm;
    double substep_cm;     /* deposition step: a quarter pixel */
    double inv_charge_unit; /* 1 / (collected charge of a MIP over one pixel) */
} lartpc_image;

/* Clears the image for a pixel size. */
void lartpc_image_init(lartpc_image *im, double pixel_cm);

/* A heavy charged particle (muon, proton, pion) of kinetic energy T [MeV] from x along d
 * (unit): dE/dx from its residual range (Bragg peak), Birks recombination, Highland
 * multiple scattering; protons and pions may end in a hadronic interaction. On return x and
 * d are the end point and direction; the result is 1 when the particle stopped (ranged out)
 * inside the image. */
int lartpc_track(lartpc_image *im, sim_rng *r, lartpc_species species, double x[3], double d[3], double T);

/* An electromagnetic shower from an electron (photon = 0) or a photon (photon = 1) of
 * energy E [MeV]: bremsstrahlung and pair-conversion branching with gaps, on a fixed stack. */
void lartpc_em(lartpc_image *im, sim_rng *r, const double x[3], const double d[3], double E, int photon);

/* Two independent N(0,1) draws (Marsaglia's polar method: one log per pair). */
void lartpc_normal_pair(sim_rng *r, double *a, double *b);

/* Unit vectors u, v completing the unit vector d to a right-handed orthonormal frame. */
void lartpc_basis(const double d[3], double u[3], double v[3]);

/* Energy [MeV] of a Michel electron (spectrum x^2 (3 - 2x), x = E / 52.8 MeV). */
double lartpc_michel_energy(sim_rng *r);

/* Truth the tests need besides the data sets: the vertex in pixel units (wire, time). */
typedef struct {
    double vertex_w, vertex_t;
    int n_primaries;
} lartpc_truth;

/* generate() with truth: the same event, rows as the fields of the configuration. */
void lartpc_event(const void *cfg, uint64_t seed, int64_t index, void *const *rows, lartpc_truth *truth);

#endif
