/* SPDX-License-Identifier: MIT */
/* client.c - uses the installed hetgrad: lists the devices it keeps. */
#include <hetgrad.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    if (strcmp(hg_version_string(), HETGRAD_VERSION_STRING) != 0) {
        fprintf(stderr, "header %s, library %s\n", HETGRAD_VERSION_STRING, hg_version_string());
        return 1;
    }
    hg_options opt;
    hg_options_init(&opt);
    hg_device_list *list = NULL;
    hg_error err;
    hg_status st = hg_device_list_create(&opt, &list, &err);
    if (st != HG_OK) {
        fprintf(stderr, "%s: %s\n", hg_status_name(st), err.message);
        return 1;
    }
    printf("hetgrad %s: %zu device(s), %zu in use\n", hg_version_string(),
           hg_device_list_count(list), hg_device_list_kept_count(list));
    for (size_t i = 0; i < hg_device_list_count(list); i++) {
        const hg_device_info *d = hg_device_list_get(list, i);
        if (d->kept)
            printf("  %s %-12s %s\n", d->id, hg_device_type_name(d->type), d->name);
    }
    hg_device_list_destroy(list);
    return 0;
}
