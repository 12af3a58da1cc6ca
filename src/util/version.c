/* SPDX-License-Identifier: MIT */
/* version.c - the version of the library actually loaded. */
#include "internal.h"

const char *hg_version_string(void)
{
    return HETGRAD_VERSION_STRING;
}

int hg_version_number(void)
{
    return HETGRAD_VERSION_NUMBER;
}
