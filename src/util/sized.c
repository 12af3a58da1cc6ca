/* SPDX-License-Identifier: MIT */
/*
 * sized.c - public structs that grow: reading a caller's options struct of
 * any released size, and writing results into a caller's struct of any
 * released size (docs/abi.md).
 *
 * A program built against older headers passes smaller structs than this
 * library knows: the library reads and writes only the bytes the program has
 * and uses defaults for the rest.  A program built against newer headers
 * passes larger ones: extra bytes are accepted only while they are zero (every
 * field's zero means its default), so an option this library cannot honour is
 * refused instead of ignored.
 */
#include "internal.h"

hg_status hg__sized_read(void *dst, size_t dst_size, const void *src, size_t src_size,
                         size_t min_size, const char *what, const char *init,
                         hg_error *err)
{
    if (src_size < min_size)
        return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                             "%s.struct_size is %zu, below the %zu bytes of its first "
                             "version: initialise it with %s()",
                             what, src_size, min_size, init);
    const unsigned char *s = src;
    for (size_t i = dst_size; i < src_size; i++)
        if (s[i] != 0)
            return hg__error_set(err, HG_INVALID_ARGUMENT, 0,
                                 "%s sets byte %zu of %zu, past the %zu bytes this "
                                 "library (hetgrad %s) knows: the program was built "
                                 "against newer headers and asks for an option this "
                                 "library does not have",
                                 what, i, src_size, dst_size, HETGRAD_VERSION_STRING);
    memcpy(dst, src, src_size < dst_size ? src_size : dst_size);
    memcpy(dst, &dst_size, sizeof dst_size); /* dst is now a whole struct of this library */
    return HG_OK;
}

bool hg__sized_init(void *p, size_t size)
{
    if (!p || size < sizeof(size_t))
        return false;
    memset(p, 0, size);
    memcpy(p, &size, sizeof size);
    return true;
}

bool hg__sized_write(void *dst, size_t dst_size, const void *src, size_t src_size,
                     size_t min_size)
{
    if (dst_size < min_size)
        return false;
    size_t n = dst_size < src_size ? dst_size : src_size;
    memcpy(dst, src, n);
    if (dst_size > n)
        memset((unsigned char *)dst + n, 0, dst_size - n);
    return true;
}
