#ifndef AUTHGATE_CCURL_SHIM_H
#define AUTHGATE_CCURL_SHIM_H

#include <curl/curl.h>

/// The version string of the libcurl actually loaded (not the headers').
static inline const char *ccurl_version_text(void) {
    return curl_version_info(CURLVERSION_NOW)->version;
}

#endif
