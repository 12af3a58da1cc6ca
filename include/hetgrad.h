/* SPDX-License-Identifier: MIT */
/*
 * hetgrad.h - umbrella header of hetgrad, a library that computes machine
 * learning gradients on every OpenCL device of a machine at once.
 *
 *   #include <hetgrad.h>
 *
 * Naming: hg_ public, hg__ internal across files, static otherwise.
 * Every create has a destroy; destroy(NULL) is a no-op.
 */
#ifndef HETGRAD_H
#define HETGRAD_H

#include "hetgrad/common.h"
#include "hetgrad/version.h"
#include "hetgrad/status.h"
#include "hetgrad/device.h"
#include "hetgrad/model.h"
#include "hetgrad/engine.h"
#include "hetgrad/data.h"
#include "hetgrad/sparse.h"
#include "hetgrad/train.h"
#include "hetgrad/checkpoint.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Version of the library actually loaded, "MAJOR.MINOR.PATCH". */
HG_EXTERN const char *hg_version_string(void);

/*
 * Version of the library actually loaded as MAJOR * 1000000 + MINOR * 1000 +
 * PATCH: HETGRAD_VERSION_NUMBER of the headers it was built from.  A program
 * built against headers of version H runs on any library with the same SONAME
 * and hg_version_number() >= H (docs/abi.md).
 */
HG_EXTERN int hg_version_number(void);

#ifdef __cplusplus
}
#endif

#endif /* HETGRAD_H */
