// Typed wrappers around libcurl's variadic calls, which Swift cannot make.
// Only the options sinkhole uses are wrapped; each passes its argument with
// the exact type libcurl documents for the option.
#ifndef SINKHOLE_CCURL_H
#define SINKHOLE_CCURL_H

#include <curl/curl.h>

typedef size_t (*sinkhole_curl_write_callback)(char *data, size_t size, size_t count, void *context);

typedef int (*sinkhole_curl_progress_callback)(void *context, curl_off_t download_total, curl_off_t download_now,
                                               curl_off_t upload_total, curl_off_t upload_now);

static inline CURLcode sinkhole_curl_set_progress_function(CURL *handle, sinkhole_curl_progress_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, callback);
}

static inline CURLcode sinkhole_curl_set_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode sinkhole_curl_set_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode sinkhole_curl_set_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode sinkhole_curl_set_list(CURL *handle, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode sinkhole_curl_set_write_function(CURL *handle, sinkhole_curl_write_callback callback) {
    return curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, callback);
}

static inline CURLcode sinkhole_curl_response_code(CURL *handle, long *code) {
    return curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, code);
}

#endif
