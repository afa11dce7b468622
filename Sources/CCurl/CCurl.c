#include "CCurl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    CURLcode (*easy_perform)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} api;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int loaded;
static char load_error[512];

static int resolve(void *library, void **slot, const char *name) {
    *slot = dlsym(library, name);
    if (*slot == NULL) {
        snprintf(load_error, sizeof load_error, "libcurl.so.4 has no %s", name);
        return 0;
    }
    return 1;
}

static void load(void) {
    void *library = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        const char *reason = dlerror();
        snprintf(load_error, sizeof load_error, "%s", reason != NULL ? reason : "libcurl.so.4 could not be loaded");
        return;
    }
    loaded = resolve(library, (void **)&api.global_init, "curl_global_init")
        && resolve(library, (void **)&api.easy_init, "curl_easy_init")
        && resolve(library, (void **)&api.easy_cleanup, "curl_easy_cleanup")
        && resolve(library, (void **)&api.easy_setopt, "curl_easy_setopt")
        && resolve(library, (void **)&api.easy_getinfo, "curl_easy_getinfo")
        && resolve(library, (void **)&api.easy_perform, "curl_easy_perform")
        && resolve(library, (void **)&api.easy_strerror, "curl_easy_strerror")
        && resolve(library, (void **)&api.slist_append, "curl_slist_append")
        && resolve(library, (void **)&api.slist_free_all, "curl_slist_free_all");
}

const char *sinkhole_curl_load(void) {
    pthread_once(&load_once, load);
    return loaded ? NULL : load_error;
}

CURLcode sinkhole_curl_global_init(long flags) { return api.global_init(flags); }
CURL *sinkhole_curl_easy_init(void) { return api.easy_init(); }
void sinkhole_curl_easy_cleanup(CURL *handle) { api.easy_cleanup(handle); }
CURLcode sinkhole_curl_easy_perform(CURL *handle) { return api.easy_perform(handle); }
const char *sinkhole_curl_easy_strerror(CURLcode code) { return api.easy_strerror(code); }

struct curl_slist *sinkhole_curl_slist_append(struct curl_slist *list, const char *text) {
    return api.slist_append(list, text);
}

void sinkhole_curl_slist_free_all(struct curl_slist *list) { api.slist_free_all(list); }

CURLcode sinkhole_curl_set_progress_function(CURL *handle, sinkhole_curl_progress_callback callback) {
    return api.easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, callback);
}

CURLcode sinkhole_curl_set_string(CURL *handle, CURLoption option, const char *value) {
    return api.easy_setopt(handle, option, value);
}

CURLcode sinkhole_curl_set_long(CURL *handle, CURLoption option, long value) {
    return api.easy_setopt(handle, option, value);
}

CURLcode sinkhole_curl_set_pointer(CURL *handle, CURLoption option, void *value) {
    return api.easy_setopt(handle, option, value);
}

CURLcode sinkhole_curl_set_list(CURL *handle, CURLoption option, struct curl_slist *value) {
    return api.easy_setopt(handle, option, value);
}

CURLcode sinkhole_curl_set_write_function(CURL *handle, sinkhole_curl_write_callback callback) {
    return api.easy_setopt(handle, CURLOPT_WRITEFUNCTION, callback);
}

CURLcode sinkhole_curl_response_code(CURL *handle, long *code) {
    return api.easy_getinfo(handle, CURLINFO_RESPONSE_CODE, code);
}
