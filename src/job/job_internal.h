/* Between the job reader (job.c: INI text -> sections, --set, canonical text) and the
 * validation of the sections into the typed fields (validate.c). */
#ifndef CASCADE_JOB_INTERNAL_H
#define CASCADE_JOB_INTERNAL_H

#include "cascade/job.h"

/* 1 if s is non-empty and has only letters, digits, '_', '-' and the characters in `extra`. */
int cascade_job_name_ok(const char *s, const char *extra);
/* 1 for the sections a --set may create: job, data, train, optimizer, optimizer.NET, gan,
 * refiner. Layer sections must come from the file. */
int cascade_job_is_fixed_section(const char *name);
/* Adds an empty section `name` (header on `line`, 0 = made by --set) at index `at`
 * (-1 = append). Returns its index, or -1 with the message set. */
int cascade_job_add_section(cascade_job *job, const char *name, int line, int at);
/* Expands block instances into layer sections and removes the [block.*] sections (blocks.c). */
cascade_status cascade_job_expand_blocks(cascade_job *job);
/* Fills the typed fields and job->layers from job->sections; marks every key of the fixed
 * sections used and rejects unknown sections and keys. */
cascade_status cascade_job_validate(cascade_job *job);

#endif
