/* cascade: data-parallel deep learning for astroparticle physics. Umbrella header. */
#ifndef CASCADE_H
#define CASCADE_H
#include "cascade/config.h"
#include "cascade/core.h"
#include "cascade/h5io.h"
#include "cascade/job.h"
#include "cascade/model.h"
#include "cascade/optim.h"
#endif
