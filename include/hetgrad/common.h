/* SPDX-License-Identifier: MIT */
/*
 * hetgrad/common.h - export macro and basic types shared by every public header.
 */
#ifndef HETGRAD_COMMON_H
#define HETGRAD_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#  if defined(HETGRAD_BUILDING)
#    define HG_EXTERN __declspec(dllexport)
#  else
#    define HG_EXTERN __declspec(dllimport)
#  endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#  define HG_EXTERN __attribute__((visibility("default")))
#else
#  define HG_EXTERN
#endif

/* An optimizer (hetgrad/train.h), here because hg_engine_step (hetgrad/engine.h)
   takes one too. */
typedef struct hg_optimizer hg_optimizer;

#endif /* HETGRAD_COMMON_H */
