// libcurl, loaded on first use with dlopen rather than linked: only the `ssm:`
// mode source needs it, and linking it would load libcurl and its thirty-odd
// libraries (TLS, Kerberos, LDAP, ...) into every sinkhole at start.
//
// Each function has libcurl's name with `sinkhole_` in front. The variadic
// setopt and getinfo, which Swift cannot call, are wrapped per argument type;
// each passes its argument with the exact type libcurl documents for the option.
#ifndef SINKHOLE_CCURL_H
#define SINKHOLE_CCURL_H

#include <curl/curl.h>

/// Loads libcurl (`libcurl.so.4`) and its functions, once. NULL when it is
/// ready; otherwise why it is not (the text stays valid), and every other
/// function here must not be called.
const char *sinkhole_curl_load(void);

CURLcode sinkhole_curl_global_init(long flags);
CURL *sinkhole_curl_easy_init(void);
void sinkhole_curl_easy_cleanup(CURL *handle);
CURLcode sinkhole_curl_easy_perform(CURL *handle);
const char *sinkhole_curl_easy_strerror(CURLcode code);
struct curl_slist *sinkhole_curl_slist_append(struct curl_slist *list, const char *text);
void sinkhole_curl_slist_free_all(struct curl_slist *list);

typedef size_t (*sinkhole_curl_write_callback)(char *data, size_t size, size_t count, void *context);

typedef int (*sinkhole_curl_progress_callback)(void *context, curl_off_t download_total, curl_off_t download_now,
                                               curl_off_t upload_total, curl_off_t upload_now);

CURLcode sinkhole_curl_set_progress_function(CURL *handle, sinkhole_curl_progress_callback callback);
CURLcode sinkhole_curl_set_string(CURL *handle, CURLoption option, const char *value);
CURLcode sinkhole_curl_set_long(CURL *handle, CURLoption option, long value);
CURLcode sinkhole_curl_set_pointer(CURL *handle, CURLoption option, void *value);
CURLcode sinkhole_curl_set_list(CURL *handle, CURLoption option, struct curl_slist *value);
CURLcode sinkhole_curl_set_write_function(CURL *handle, sinkhole_curl_write_callback callback);
CURLcode sinkhole_curl_response_code(CURL *handle, long *code);

#endif
